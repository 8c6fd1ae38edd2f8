"""The words both sides use in batch documents and job parameters, each spelled once.

They are ``StrEnum``s: a member *is* its string (``Outcome.LOADED == "loaded"``), so JSON holds
the plain words and documents written before these types existed read the same.
"""

from __future__ import annotations

from enum import StrEnum


class RunMode(StrEnum):
    """What a DAG run (and so its batch) loads."""

    INCREMENTAL = "incremental"  # new staging objects (scheduled runs, a manual run with an empty form)
    OBJECTS = "objects"  # staging objects named in the trigger form
    REPLAY = "replay"  # archived objects loaded again: nothing is moved, no re-delivery check


class Outcome(StrEnum):
    """What the stage job did with one object of the batch."""

    LOADED = "loaded"  # its records are in the stage table or the rejects table
    QUARANTINED = "quarantined"  # nothing of it loads (see the feed contract's quarantine reasons)
    DUPLICATE = "duplicate"  # the same bytes were loaded before: nothing of it loads again


class Destination(StrEnum):
    """Where an object's batch copy goes once the run is done."""

    ARCHIVE = "archive"
    QUARANTINE = "quarantine"
    DISCARD = "discard"  # a dry run's or a replay's copy: deleted (never named by a stage result)


class SchemaPolicy(StrEnum):
    """What happens to columns the feed contract does not know (the jobs' ``schema_policy``)."""

    ADD = "add"  # added to stage and target as nullable strings
    RESCUE = "rescue"  # kept as a JSON object in the rescued-data column
    FAIL = "fail"  # the object is quarantined

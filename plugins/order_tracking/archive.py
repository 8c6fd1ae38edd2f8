"""Turning the stage job's per-object result into the archive and quarantine moves of a run."""

from __future__ import annotations

from datetime import date
from typing import Any

DESTINATIONS = ("archive", "quarantine")


def destination_folder(prefix: str, run_date: date, batch_id: str) -> str:
    """``<prefix><YYYY-MM-DD>/<batch_id>/``: a layout that never overwrites an earlier object."""
    return f"{prefix.rstrip('/')}/{run_date.isoformat()}/{batch_id}/"


def move_groups(
    stage_result: dict[str, Any],
    archive_prefix: str,
    quarantine_prefix: str,
    run_date: date,
) -> list[dict[str, Any]]:
    """One ``GCSToGCSOperator`` argument set per non-empty destination, objects named exactly.

    An empty list means nothing to move (the mapped move task is then skipped): an empty
    ``source_objects`` must never reach the operator, which would read it as "copy everything".
    """
    prefixes = {"archive": archive_prefix, "quarantine": quarantine_prefix}
    batch_id = stage_result["batch_id"]
    groups = []
    for destination in DESTINATIONS:
        names = [obj["name"] for obj in stage_result["objects"] if obj["destination"] == destination]
        if names:
            groups.append(
                {
                    "source_objects": names,
                    "destination_object": destination_folder(prefixes[destination], run_date, batch_id),
                }
            )
    return groups

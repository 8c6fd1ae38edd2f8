"""What a DAG run processes, decided from its trigger form (``Param``s) and its run type.

- ``incremental`` (scheduled runs, and manual runs with an empty form): the new staging objects
  the sensor saw;
- ``objects``: exactly the staging objects named in the ``objects`` param (no sensing);
- ``replay``: the objects archived on ``replay_date`` (under ``archive/<replay_date>/``, the date
  their batch was cut), loaded again through stage and merge;
- backfill runs replay the archive days whose midnight (UTC) falls in their data interval.

``dry_run`` applies to every mode: the batch is read, validated and reported, nothing is written to
a table and nothing is moved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from batch_documents import RunMode
from order_tracking.compat import Param

BACKFILL_RUN_TYPE = "backfill"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RunRequestError(ValueError):
    """The trigger form asks for something contradictory or malformed."""


@dataclass(frozen=True)
class RunRequest:
    mode: RunMode
    dry_run: bool = False
    objects: tuple[str, ...] = ()
    replay_start: datetime | None = None  # replayed: objects archived in [replay_start, replay_end)
    replay_end: datetime | None = None


def dag_params() -> dict[str, Param]:
    """The trigger form. Defaults describe a plain incremental run."""
    return {
        "objects": Param(
            [],
            type="array",
            items={"type": "string", "minLength": 1},
            title="Objects to load",
            description="Load exactly these staging objects (e.g. 'orders_1.csv' or "
            "'staging_zn/orders_1.csv') instead of waiting for new ones. Leave empty for a normal run.",
        ),
        "replay_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Replay date",
            description="YYYY-MM-DD: load the objects archived on that date again (repairs the target; "
            "never rolls it back). Leave empty for a normal run.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Read, validate and report the batch; write no table and move no object.",
        ),
    }


def resolve_run_request(
    params: Mapping[str, Any],
    run_type: str,
    interval_start: datetime | None,
    interval_end: datetime | None,
) -> RunRequest:
    """The run's mode; a form that names objects *and* a replay date is refused, not guessed at."""
    dry_run = bool(params.get("dry_run") or False)
    objects = tuple(name.strip() for name in params.get("objects") or [] if name and name.strip())
    replay_date = (params.get("replay_date") or "").strip()
    if objects and replay_date:
        raise RunRequestError("choose either 'objects' or 'replay_date' in the trigger form, not both")
    if run_type == BACKFILL_RUN_TYPE:
        if interval_start is None or interval_end is None:
            raise RunRequestError("a backfill run needs a data interval to know what to replay")
        # Cron schedules use trigger timetables in Airflow 3: the interval is the logical instant.
        interval_end = max(interval_end, interval_start + timedelta(microseconds=1))
        return RunRequest(RunMode.REPLAY, dry_run, replay_start=interval_start, replay_end=interval_end)
    if objects:
        return RunRequest(RunMode.OBJECTS, dry_run, objects=objects)
    if replay_date:
        if not _DATE.match(replay_date):
            raise RunRequestError(f"replay_date {replay_date!r} is not a YYYY-MM-DD date")
        day = date.fromisoformat(replay_date)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return RunRequest(RunMode.REPLAY, dry_run, replay_start=start, replay_end=start + timedelta(days=1))
    return RunRequest(RunMode.INCREMENTAL, dry_run)

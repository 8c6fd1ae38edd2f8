"""Turning a batch's outcome into the archive and quarantine moves of its run."""

from __future__ import annotations

from datetime import date
from typing import Any

from order_tracking.batch import NOT_CSV

DESTINATIONS = ("archive", "quarantine")
Placement = tuple[str, str]  # (object name, destination)


def destination_folder(prefix: str, run_date: date, batch_id: str) -> str:
    """``<prefix><YYYY-MM-DD>/<batch_id>/``: a layout that never overwrites an earlier object."""
    return f"{prefix.rstrip('/')}/{run_date.isoformat()}/{batch_id}/"


def placements(manifest: dict[str, Any], stage_result: dict[str, Any] | None) -> list[Placement]:
    """Where each object of the batch goes: the stage job's verdict, and quarantine for non-CSV objects.

    Dry runs and replays move nothing: a dry run leaves the feed as it found it, and replayed
    objects are already in the archive.
    """
    if manifest.get("dry_run") or manifest.get("mode") == "replay":
        return []
    staged = [(obj["name"], obj["destination"]) for obj in (stage_result or {}).get("objects", [])]
    return staged + [(name, "quarantine") for name in manifest.get(NOT_CSV, [])]


def move_groups(
    moves: list[Placement],
    batch_id: str,
    archive_prefix: str,
    quarantine_prefix: str,
    run_date: date,
) -> list[dict[str, Any]]:
    """One ``GCSToGCSOperator`` argument set per non-empty destination, objects named exactly.

    An empty list means nothing to move (the mapped move task is then skipped): an empty
    ``source_objects`` must never reach the operator, which would read it as "copy everything".
    """
    prefixes = {"archive": archive_prefix, "quarantine": quarantine_prefix}
    groups = []
    for destination in DESTINATIONS:
        names = [name for name, where in moves if where == destination]
        if names:
            groups.append(
                {
                    "source_objects": names,
                    "destination_object": destination_folder(prefixes[destination], run_date, batch_id),
                }
            )
    return groups

"""Turning a batch's outcome into the archive and quarantine moves of its run.

Each move goes from the batch's copy of the object (its snapshot, see ``order_tracking.batch``) to
``<archive|quarantine>/<date>/<batch_id>/<name below the staging prefix>``: the original name, never
overwriting an earlier object, and never the staging object itself (which may hold newer bytes by
now). ``order_tracking.claims.move_object`` carries a move out by generation.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from batch_documents import Destination, Manifest, ManifestObject, StageResult

MOVED_TO = (Destination.ARCHIVE, Destination.QUARANTINE)  # the destinations with a folder
MAX_NAME_BYTES = 1024  # Cloud Storage's limit on an object name (UTF-8)
Placement = tuple[ManifestObject, Destination]  # an object of the batch, and where its copy goes


class PlacementError(ValueError):
    """The stage result and the manifest disagree about which objects the batch holds."""


def destination_folder(prefix: str, run_date: date, batch_id: str) -> str:
    """``<prefix><YYYY-MM-DD>/<batch_id>/``: a layout that never overwrites an earlier object."""
    return f"{prefix.rstrip('/')}/{run_date.isoformat()}/{batch_id}/"


def destination_name(folder: str, name: str, staging_prefix: str) -> str:
    """``folder`` + the object's name below the staging prefix (its last segment if elsewhere).

    A name too long for Cloud Storage under ``folder`` keeps the end of its name (the extension)
    behind a hash of the whole name, so two such names never collide.
    """
    leaf = name[len(staging_prefix) :] if name.startswith(staging_prefix) else name.rsplit("/", 1)[-1]
    full = folder + leaf
    if len(full.encode("utf-8")) <= MAX_NAME_BYTES:
        return full
    tag = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16] + "-"
    room = MAX_NAME_BYTES - len((folder + tag).encode("utf-8"))
    tail = leaf.encode("utf-8")[-room:].decode("utf-8", "ignore") if room > 0 else ""
    return folder + tag + tail


def placements(manifest: Manifest, stage_result: StageResult | None) -> list[Placement]:
    """Where each object of the batch goes: the stage job's verdict, and quarantine for non-CSV objects.

    Dry runs and replays move nothing: a dry run leaves the feed as it found it, and replayed
    objects are already in the archive. Their batch copies are discarded (``Destination.DISCARD``).
    ``stage_result`` is None for a batch without CSV objects (no stage job ran).

    Raises:
        PlacementError: the stage result names an object the manifest does not list.
    """
    if not manifest.moves_objects:
        return [(entry, Destination.DISCARD) for entry in manifest.entries if entry.snapshot]
    entries = {entry.name: entry for entry in manifest.objects}
    outcomes = stage_result.objects if stage_result is not None else ()
    strangers = sorted(outcome.name for outcome in outcomes if outcome.name not in entries)
    if strangers:
        raise PlacementError(
            f"the stage result of batch {manifest.batch_id} names objects its manifest does not list: "
            + ", ".join(repr(name) for name in strangers)
        )
    staged = [(entries[outcome.name], outcome.destination) for outcome in outcomes]
    return staged + [(entry, Destination.QUARANTINE) for entry in manifest.not_csv]


def planned_move(entry: ManifestObject, destination: str | None) -> dict[str, Any]:
    """One object's move (``MoveObjectGenerationsOperator``'s ``moves`` item): from its batch copy
    (or, for a version 1 manifest, from the object by generation) to ``destination``, with the
    checksums that recognise it there. ``destination`` None discards the batch copy."""
    return {
        "name": entry.name,
        "source": entry.snapshot or entry.name,
        "source_generation": None if entry.snapshot else entry.generation,
        "destination": destination,
        "md5_hash": entry.md5_hash,
        "crc32c": entry.crc32c,
        "size": entry.size,
    }


def move_groups(
    moves: list[Placement],
    batch_id: str,
    *,
    archive_prefix: str,
    quarantine_prefix: str,
    staging_prefix: str,
    run_date: date,
) -> list[dict[str, Any]]:
    """One ``MoveObjectGenerationsOperator`` argument set (``{"moves": [...]}``) per non-empty
    destination: archive, then quarantine.

    An empty list means nothing to move: the mapped move task is then skipped. Discarded batch
    copies form a group of their own, whose moves have no destination.
    """
    prefixes = {Destination.ARCHIVE: archive_prefix, Destination.QUARANTINE: quarantine_prefix}
    groups = []
    discards = [planned_move(entry, None) for entry, where in moves if where is Destination.DISCARD]
    for destination in MOVED_TO:
        folder = destination_folder(prefixes[destination], run_date, batch_id)
        planned = [
            planned_move(entry, destination_name(folder, entry.name, staging_prefix))
            for entry, where in moves
            if where is destination
        ]
        if planned:
            groups.append({"moves": planned})
    return [*groups, {"moves": discards}] if discards else groups

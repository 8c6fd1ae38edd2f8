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

from order_tracking.batch import NOT_CSV

DESTINATIONS = ("archive", "quarantine")
# A batch copy that only served a dry run or a replay: deleted once the run is done, so that only
# the copies of a held batch (claimed, not yet moved) ever stay under the batches prefix.
DISCARD = "discard"
MAX_NAME_BYTES = 1024  # Cloud Storage's limit on an object name (UTF-8)
Placement = tuple[dict[str, Any], str]  # (manifest entry of the object, destination)


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


def _entry(item: dict[str, Any] | str) -> dict[str, Any]:
    return {"name": item} if isinstance(item, str) else item  # version 1 listed not-CSV names only


def placements(manifest: dict[str, Any], stage_result: dict[str, Any] | None) -> list[Placement]:
    """Where each object of the batch goes: the stage job's verdict, and quarantine for non-CSV objects.

    Dry runs and replays move nothing: a dry run leaves the feed as it found it, and replayed
    objects are already in the archive. Their batch copies are discarded.
    """
    if manifest.get("dry_run") or manifest.get("mode") == "replay":
        copies = [*manifest.get("objects", []), *map(_entry, manifest.get(NOT_CSV, []))]
        return [(entry, DISCARD) for entry in copies if entry.get("snapshot")]
    entries = {entry["name"]: entry for entry in manifest.get("objects", [])}
    staged = [
        (entries.get(obj["name"], {"name": obj["name"]}), obj["destination"])
        for obj in (stage_result or {}).get("objects", [])
    ]
    return staged + [(_entry(item), "quarantine") for item in manifest.get(NOT_CSV, [])]


def planned_move(entry: dict[str, Any], destination: str | None) -> dict[str, Any]:
    """One object's move: from its batch copy (or, for a version 1 manifest, from the object by
    generation) to ``destination``, with the checksums that recognise it there."""
    snapshot = entry.get("snapshot")
    return {
        "name": entry["name"],
        "source": snapshot or entry["name"],
        "source_generation": None if snapshot else entry.get("generation"),
        "destination": destination,
        "md5_hash": entry.get("md5_hash"),
        "crc32c": entry.get("crc32c"),
        "size": entry.get("size"),
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
    """One ``MoveObjectGenerationsOperator`` argument set (``moves``) per non-empty destination.

    An empty list means nothing to move: the mapped move task is then skipped. Discarded batch
    copies form a group of their own, whose moves have no destination.
    """
    prefixes = {"archive": archive_prefix, "quarantine": quarantine_prefix}
    groups = []
    discards = [planned_move(entry, None) for entry, where in moves if where == DISCARD]
    for destination in DESTINATIONS:
        folder = destination_folder(prefixes[destination], run_date, batch_id)
        planned = [
            planned_move(entry, destination_name(folder, entry["name"], staging_prefix))
            for entry, where in moves
            if where == destination
        ]
        if planned:
            groups.append({"moves": planned})
    return [*groups, {"moves": discards}] if discards else groups

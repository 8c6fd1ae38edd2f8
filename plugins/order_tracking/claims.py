"""Objects by bucket, name and generation: the claim at the cut and the moves after the load.

- **Claim** (``claim_objects``): each listed object's exact generation is copied into the batch
  folder (``order_tracking.batch.snapshot_name``) with ``ifSourceGenerationMatch`` (the generation
  listed) and ``ifGenerationMatch=0`` (a copy never overwrites). A copy already there is an earlier
  attempt's: kept if its checksums are the listed ones. A generation gone since the listing
  (overwritten or deleted) leaves the object out of the batch: its newer bytes wait for the next run.
- **Release** (``release_originals``): once the manifest is written, each original is deleted with
  ``ifGenerationMatch`` = the claimed generation, so newer bytes that arrived under the same name
  after the cut stay in staging for the next run.
- **Move** (``move_object``): a batch copy goes to its archive or quarantine name with the same
  preconditions, then the copy is deleted by generation. A destination already holding the same
  bytes is an earlier attempt's move: it counts as done.

Everything goes through a ``google.cloud.storage`` ``Bucket`` (from ``GCSHook.get_conn()`` in the
DAG's tasks), a few objects at a time. No name is ever read as a pattern.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from google.api_core.exceptions import NotFound, PreconditionFailed

from order_tracking.batch import StagedObject, snapshot_name

log = logging.getLogger(__name__)
WORKERS = 8  # copies and deletes mostly wait on Cloud Storage; a few at a time, bounded
GONE = (NotFound, PreconditionFailed)  # the generation named is no longer the live one (or none is)
T = TypeVar("T")
R = TypeVar("R")


class Claimed(Protocol):
    """An object as a batch holds it: a manifest entry or a claimed ``StagedObject``."""

    @property
    def name(self) -> str: ...
    @property
    def generation(self) -> str | None: ...
    @property
    def snapshot(self) -> str | None: ...


class ClaimError(RuntimeError):
    """An object is not where the batch expects it, or holds other bytes: a person has to look."""


def _each(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(function, items))


def _checksums(item: Any) -> tuple[Any, Any, Any]:
    if isinstance(item, dict):
        return item.get("md5_hash"), item.get("crc32c"), item.get("size")
    return item.md5_hash, item.crc32c, item.size


def same_bytes(blob: Any, expected: Any) -> bool:
    """True if ``blob`` holds the bytes described by ``expected`` (MD5, or CRC32C and size)."""
    md5, crc32c, size = _checksums(blob)
    want_md5, want_crc32c, want_size = _checksums(expected)
    if md5 and want_md5:
        return bool(md5 == want_md5)
    if crc32c and want_crc32c:
        sizes_agree = size is None or want_size is None or int(size) == int(want_size)
        return bool(crc32c == want_crc32c) and sizes_agree
    return False


def copy_generation(bucket: Any, name: str, generation: int, destination: str) -> None:
    """Copy exactly ``generation`` of ``name`` to ``destination``, which must not exist yet.

    A rewrite, repeated with its token until done: one call within a location and storage class,
    several for very large objects otherwise. Raises NotFound / PreconditionFailed when the
    generation is not the live one or the destination exists.
    """
    source = bucket.blob(name, generation=generation)  # sends sourceGeneration
    target = bucket.blob(destination)
    token = None
    while True:
        token, _, _ = target.rewrite(
            source, token=token, if_generation_match=0, if_source_generation_match=generation
        )
        if token is None:
            return


def _claim(bucket: Any, batches_prefix: str, batch_id: str, obj: StagedObject) -> StagedObject | None:
    if obj.generation is None:
        raise ClaimError(f"{obj.name!r} was listed without a generation")
    snapshot = snapshot_name(batches_prefix, batch_id, obj.name, obj.generation)
    try:
        copy_generation(bucket, obj.name, int(obj.generation), snapshot)
    except GONE:
        existing = bucket.get_blob(snapshot)
        if existing is None:
            log.warning(
                "left out of batch %s: %r generation %s (bucket %s) was overwritten or deleted since "
                "it was listed; newer bytes under that name wait for the next run",
                batch_id,
                obj.name,
                obj.generation,
                bucket.name,
            )
            return None
        if not same_bytes(existing, obj):
            raise ClaimError(
                f"gs://{bucket.name}/{snapshot} exists but does not hold {obj.name!r} "
                f"generation {obj.generation}"
            ) from None
        log.info("kept the copy of %r generation %s made by an earlier attempt", obj.name, obj.generation)
    return replace(obj, snapshot=snapshot)


def claim_objects(
    bucket: Any, batches_prefix: str, batch_id: str, objects: Sequence[StagedObject]
) -> list[StagedObject]:
    """The objects claimed for the batch (in the given order), each with its ``snapshot`` set."""
    claimed = _each(lambda obj: _claim(bucket, batches_prefix, batch_id, obj), objects)
    return [obj for obj in claimed if obj is not None]


def _release(bucket: Any, entry: Claimed) -> bool:
    assert entry.generation is not None
    try:
        bucket.blob(entry.name).delete(if_generation_match=int(entry.generation))
    except GONE:
        log.info(
            "not released: %r generation %s (bucket %s) is already gone or overwritten; newer bytes "
            "under that name, if any, stay for the next run",
            entry.name,
            entry.generation,
            bucket.name,
        )
        return False
    return True


def release_originals(bucket: Any, entries: Iterable[Claimed]) -> int:
    """Delete the claimed generation of each original that has a batch copy; idempotent.
    Returns how many originals this call deleted."""
    claimed = [entry for entry in entries if entry.snapshot and entry.generation]
    return sum(_each(lambda entry: _release(bucket, entry), claimed))


def _delete_generation(bucket: Any, name: str, generation: int) -> None:
    with contextlib.suppress(*GONE):  # already deleted (an earlier attempt), or replaced: not ours
        bucket.blob(name).delete(if_generation_match=generation)


def move_object(bucket: Any, move: dict[str, Any]) -> str:
    """Carry out one planned move (``order_tracking.archive.planned_move``); returns what happened:
    ``moved``, ``already moved`` (an earlier attempt did it) or ``skipped`` (a version 1 manifest's
    object overwritten since its cut: nothing of the claimed generation is left to move)."""
    name, source, destination = move["name"], move["source"], move["destination"]
    if destination is None:
        return discard_copy(bucket, name, source)
    generation = move.get("source_generation")
    if generation is None:  # a batch copy: ours alone, so its live generation is the one to move
        live = bucket.get_blob(source)
        generation = None if live is None else live.generation
    if generation is not None:
        try:
            copy_generation(bucket, source, int(generation), destination)
        except GONE:
            pass  # the destination exists, or the source generation is gone: see below
        else:
            _delete_generation(bucket, source, int(generation))
            return "moved"
    existing = bucket.get_blob(destination)
    if existing is None:
        if source != name:
            raise ClaimError(
                f"neither the batch copy gs://{bucket.name}/{source} of {name!r} "
                f"nor gs://{bucket.name}/{destination} exists"
            )
        log.warning("not moved: %r generation %s is gone since the batch was cut", name, generation)
        return "skipped"
    if (move.get("md5_hash") or move.get("crc32c")) and not same_bytes(existing, move):
        raise ClaimError(f"gs://{bucket.name}/{destination} exists with other bytes than {name!r}")
    if generation is not None:
        _delete_generation(bucket, source, int(generation))
    return "already moved"


def discard_copy(bucket: Any, name: str, copy: str) -> str:
    """Delete the batch copy ``copy`` of ``name`` (a dry run's or a replay's); never an original."""
    if copy == name:
        raise ClaimError(f"refusing to discard {name!r}: it is not a batch copy")
    live = bucket.get_blob(copy)
    if live is None:
        return "already discarded"
    _delete_generation(bucket, copy, int(live.generation))
    return "discarded"


def move_objects(bucket: Any, moves: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Carry out a group of moves, a few at a time; counts by outcome."""
    return dict(Counter(_each(lambda move: move_object(bucket, move), moves)))

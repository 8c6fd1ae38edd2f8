"""Cutting a batch: which staging objects a run processes, and the manifest that freezes that choice.

Rules (documented in the README):
- objects directly under the staging prefix whose name ends in ``.csv`` (any case) are batch
  candidates; other objects directly under it (``x.tmp``, ``x.json``) are *not CSV*: the run
  quarantines them with reason ``not_csv`` without reading them; "folder" placeholders (names
  ending in ``/``) and objects in sub-folders are ignored;
- objects are taken oldest first (creation time, then name), at most ``max_objects`` CSV objects
  and, separately, at most ``max_objects`` not-CSV objects per run; the rest wait for the next run;
- each chosen object is claimed by generation: the batch gets its own copy of exactly the listed
  generation (its *snapshot*, ``<batch>/objects/<sha256(name)[:16]>-<generation>.csv``, a name
  of safe characters whatever the object's name), which the Spark jobs read and the moves move;
- the manifest is written once per batch id: a retried task reuses it, so every attempt of a run
  processes exactly the same objects.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from batch_documents import Manifest, ManifestObject, RunMode, gcs_uri
from order_tracking.config import staging_prefix_problem

MANIFEST_NAME = "manifest.json"
MAX_BATCH_ID_LENGTH = 120
STAGE_RESULT_NAME = "stage_result.json"
MERGE_RESULT_NAME = "merge_result.json"
SNAPSHOTS_FOLDER = "objects/"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class StagedObject:
    """What the manifest records of an object: its identity (name, generation) and its batch copy."""

    name: str
    generation: str | None
    size: int | None
    md5_hash: str | None
    crc32c: str | None
    created: datetime | None
    snapshot: str | None = None  # the batch's copy of this generation, once claimed


def batch_id_for_run(run_id: str) -> str:
    """A readable, path-safe batch id that is the same for every attempt of one DAG run."""
    return _UNSAFE.sub("_", run_id).strip("_")[:MAX_BATCH_ID_LENGTH]


def _leaf(name: str, staging_prefix: str) -> str | None:
    """The object's name below the prefix, or None for placeholders, sub-folders and other prefixes."""
    if not name.startswith(staging_prefix):
        return None
    leaf = name[len(staging_prefix) :]
    return leaf if leaf and "/" not in leaf else None


def is_csv_name(name: str) -> bool:
    return name.lower().endswith(".csv")


def is_batch_candidate(name: str, staging_prefix: str) -> bool:
    """True for a CSV object directly under the staging prefix."""
    leaf = _leaf(name, staging_prefix)
    return leaf is not None and is_csv_name(leaf)


def is_stray_object(name: str, staging_prefix: str) -> bool:
    """True for an object directly under the staging prefix that is not a CSV (quarantined as not_csv)."""
    leaf = _leaf(name, staging_prefix)
    return leaf is not None and not is_csv_name(leaf)


def oldest_first(objects: Iterable[StagedObject]) -> list[StagedObject]:
    earliest = datetime.min.replace(tzinfo=UTC)
    return sorted(objects, key=lambda obj: (obj.created or earliest, obj.name))


def select_batch(
    objects: Iterable[StagedObject], staging_prefix: str, max_objects: int
) -> tuple[list[StagedObject], list[StagedObject]]:
    """``(CSV objects, not-CSV objects)`` of a run, oldest first, each capped at ``max_objects``.

    Separate caps: a pile of stray non-CSV objects never holds back the CSV objects.
    """
    ordered = oldest_first(objects)
    csv_objects = [obj for obj in ordered if is_batch_candidate(obj.name, staging_prefix)]
    not_csv = [obj for obj in ordered if is_stray_object(obj.name, staging_prefix)]
    return csv_objects[:max_objects], not_csv[:max_objects]


def direct_children_glob(prefix: str) -> str:
    """A ``matchGlob`` matching the objects directly under ``prefix`` (not ``prefix`` itself, a
    "folder" placeholder, nor objects in its sub-folders): ``?`` and ``*`` never match ``/``."""
    if problem := staging_prefix_problem(prefix):
        raise ValueError(f"the staging prefix {problem}")
    return prefix + "?*"


def batch_dir(batches_prefix: str, batch_id: str) -> str:
    return f"{batches_prefix.rstrip('/')}/{batch_id}/"


def snapshot_name(batches_prefix: str, batch_id: str, name: str, generation: str) -> str:
    """The batch's copy of one generation of an object: the same for every attempt of the run, and
    only characters that no path, URI or glob handling treats specially."""
    if not generation.isdigit():
        raise ValueError(f"generation {generation!r} of {name!r} is not a GCS generation number")
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
    return f"{batch_dir(batches_prefix, batch_id)}{SNAPSHOTS_FOLDER}{digest}-{generation}.csv"


def manifest_object(bucket: str, seq: int, obj: StagedObject) -> ManifestObject:
    """The manifest's entry for ``obj``, ``seq``-th of its list (1 = oldest)."""
    return ManifestObject.in_bucket(
        bucket,
        seq,
        obj.name,
        generation=obj.generation,
        size=obj.size,
        md5_hash=obj.md5_hash,
        crc32c=obj.crc32c,
        created=obj.created.isoformat() if obj.created else None,
        snapshot=obj.snapshot,
    )


def build_manifest(
    batch_id: str,
    bucket: str,
    batches_prefix: str,
    objects: Sequence[StagedObject],
    created_at: datetime,
    *,
    mode: RunMode = RunMode.INCREMENTAL,
    dry_run: bool = False,
    not_csv: Iterable[StagedObject] = (),
    run_id: str | None = None,
) -> Manifest:
    """The manifest the Spark jobs read (``batch_documents.Manifest``; ``to_json`` is the document).

    ``mode`` is ``incremental`` (new staging objects), ``objects`` (named by hand) or ``replay``
    (archived objects, loaded again: nothing is moved and re-delivery checks are off). ``not_csv``
    objects are never read by Spark: the run quarantines them. Each object's ``snapshot`` (its
    batch copy) is where its bytes are read and moved from. The results go next to the manifest.
    ``run_id`` is the Airflow run that cuts the batch: another run whose id maps to the same batch
    id must not take this batch for its own (see ``order_tracking.tasks.cut_batch``).
    """
    folder = batch_dir(batches_prefix, batch_id)
    return Manifest(
        batch_id=batch_id,
        bucket=bucket,
        created_at=created_at,
        objects=tuple(manifest_object(bucket, seq, obj) for seq, obj in enumerate(objects, start=1)),
        stage_result_uri=gcs_uri(bucket, folder + STAGE_RESULT_NAME),
        merge_result_uri=gcs_uri(bucket, folder + MERGE_RESULT_NAME),
        mode=mode,
        dry_run=dry_run,
        not_csv=tuple(manifest_object(bucket, seq, obj) for seq, obj in enumerate(not_csv, start=1)),
        run_id=run_id,
    )


def archive_day_prefixes(archive_prefix: str, start: datetime, end: datetime) -> list[str]:
    """The archive date folders a replay of ``[start, end)`` loads: days whose midnight (UTC) falls in it.

    "Archived on day D" means archived under ``<archive>/D/`` (D is the batch's cut date). With a
    daily schedule each backfill run replays its day; with an hourly one, the run starting at
    midnight does and the other runs of the day find nothing to replay.
    """
    first = start.astimezone(UTC).date()
    if datetime(first.year, first.month, first.day, tzinfo=UTC) < start:
        first += timedelta(days=1)
    days = []
    while datetime(first.year, first.month, first.day, tzinfo=UTC) < end:
        days.append(f"{archive_prefix.rstrip('/')}/{first.isoformat()}/")
        first += timedelta(days=1)
    return days

"""Cutting a batch: which staging objects a run processes, and the manifest that freezes that choice.

Rules (documented in the README):
- only objects directly under the staging prefix whose name ends in ``.csv`` (any case) are batch
  candidates; "folder" placeholders (names ending in ``/``) and other objects are left alone;
- candidates are taken oldest first (creation time, then name), at most ``max_objects`` per run;
  the rest wait for the next run;
- the manifest is written once per batch id: a retried task reuses it, so every attempt of a run
  processes exactly the same objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"
STAGE_RESULT_NAME = "stage_result.json"
MERGE_RESULT_NAME = "merge_result.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class StagedObject:
    """What the manifest records of a staging object."""

    name: str
    generation: str | None
    size: int | None
    md5_hash: str | None
    crc32c: str | None
    created: datetime | None


def batch_id_for_run(run_id: str) -> str:
    """A readable, path-safe batch id that is the same for every attempt of one DAG run."""
    return _UNSAFE.sub("_", run_id).strip("_")[:120]


def is_batch_candidate(name: str, staging_prefix: str) -> bool:
    """True for a CSV object directly under the staging prefix."""
    if not name.startswith(staging_prefix):
        return False
    leaf = name[len(staging_prefix) :]
    return bool(leaf) and "/" not in leaf and leaf.lower().endswith(".csv")


def select_batch(
    objects: Iterable[StagedObject], staging_prefix: str, max_objects: int
) -> list[StagedObject]:
    """The candidates of a run, oldest first, capped at ``max_objects``."""
    candidates = [obj for obj in objects if is_batch_candidate(obj.name, staging_prefix)]
    oldest_first = datetime.min.replace(tzinfo=UTC)
    candidates.sort(key=lambda obj: (obj.created or oldest_first, obj.name))
    return candidates[:max_objects]


def batch_dir(batches_prefix: str, batch_id: str) -> str:
    return f"{batches_prefix.rstrip('/')}/{batch_id}/"


def build_manifest(
    batch_id: str, bucket: str, batches_prefix: str, objects: list[StagedObject], created_at: datetime
) -> dict[str, Any]:
    """The manifest document the Spark jobs read (``spark_tasks.manifest`` parses it)."""
    folder = batch_dir(batches_prefix, batch_id)
    return {
        "version": MANIFEST_VERSION,
        "batch_id": batch_id,
        "bucket": bucket,
        "created_at": created_at.isoformat(),
        "objects": [
            {
                "name": obj.name,
                "generation": obj.generation,
                "size": obj.size,
                "md5_hash": obj.md5_hash,
                "crc32c": obj.crc32c,
                "created": obj.created.isoformat() if obj.created else None,
            }
            for obj in objects
        ],
        "results": {
            "stage": f"gs://{bucket}/{folder}{STAGE_RESULT_NAME}",
            "merge": f"gs://{bucket}/{folder}{MERGE_RESULT_NAME}",
        },
    }


def manifest_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True)

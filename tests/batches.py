"""Test helpers: putting a batch in the emulator as ``cut_batch`` would, and the upsert rule's model."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from order_tracking.batch import MANIFEST_NAME, StagedObject, batch_dir, build_manifest
from order_tracking.claims import claim_objects
from spark_tasks.contract import STATUSES


def upload_batch(
    bucket: Any,
    batch_id: str,
    files: Mapping[str, str | bytes],
    created_at: datetime,
    staging_prefix: str = "staging_zn/",
    batches_prefix: str = "_batches/",
    **manifest_options: Any,
) -> str:
    """Upload ``files`` under ``staging_prefix``, claim them as ``cut_batch`` does (each generation
    copied into the batch folder, where the jobs read it) and write their manifest (options:
    ``mode``, ``dry_run``). The originals stay in staging."""
    objects = []
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        blob = bucket.blob(staging_prefix + name)
        blob.upload_from_string(data, content_type="text/csv")
        blob.reload()  # generation, size and checksums as GCS reports them
        objects.append(
            StagedObject(
                blob.name, str(blob.generation), blob.size, blob.md5_hash, blob.crc32c, blob.time_created
            )
        )
    claimed = claim_objects(bucket, batches_prefix, batch_id, objects)
    assert len(claimed) == len(objects)
    manifest = build_manifest(batch_id, bucket.name, batches_prefix, claimed, created_at, **manifest_options)
    name = batch_dir(batches_prefix, batch_id) + MANIFEST_NAME
    bucket.blob(name).upload_from_string(manifest.to_json())
    return f"gs://{bucket.name}/{name}"


def expected_target(files: dict[str, bytes]) -> dict[str, tuple[str, datetime]]:
    """Latest valid event per tracking number; ties go to the later object, then the later record."""
    best: dict[str, tuple[tuple[datetime, int, int], str]] = {}
    for seq, name in enumerate(sorted(files), start=1):
        for index, row in enumerate(csv.DictReader(io.StringIO(files[name].decode())), start=1):
            if row["status"] not in STATUSES:
                continue  # rejected, never reaches the target
            ts = datetime.fromisoformat(row["event_ts"].replace("Z", "+00:00")).replace(tzinfo=None)
            rank = (ts, seq, index)
            key = row["tracking_num"]
            if key not in best or rank > best[key][0]:
                best[key] = (rank, row["status"])
    return {key: (status, rank[0]) for key, (rank, status) in best.items()}

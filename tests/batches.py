"""Putting a batch in the emulator as the DAG's cut_batch task would: objects, then their manifest."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from order_tracking.batch import MANIFEST_NAME, StagedObject, batch_dir, build_manifest, manifest_json


def upload_batch(
    bucket: Any,
    batch_id: str,
    files: Mapping[str, str | bytes],
    created_at: datetime,
    staging_prefix: str = "staging_zn/",
    batches_prefix: str = "_batches/",
) -> str:
    """Upload ``files`` under ``staging_prefix`` and their manifest; return the manifest's URI."""
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
    manifest = build_manifest(batch_id, bucket.name, batches_prefix, objects, created_at)
    name = batch_dir(batches_prefix, batch_id) + MANIFEST_NAME
    bucket.blob(name).upload_from_string(manifest_json(manifest))
    return f"gs://{bucket.name}/{name}"

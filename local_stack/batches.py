"""A batch put in the emulator as the DAG's ``cut_batch`` would: for tests and benchmarks that run
the Spark jobs without Airflow."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def upload_batch(
    bucket: Any,
    batch_id: str,
    files: Mapping[str, str | bytes],
    created_at: datetime,
    *,
    staging_prefix: str = "staging_zn/",
    batches_prefix: str = "_batches/",
    **manifest_options: Any,
) -> str:
    """Upload ``files`` under ``staging_prefix``, claim them as ``cut_batch`` does (each generation
    copied into the batch folder, where the jobs read it) and write their manifest (options:
    ``mode``, ``dry_run``). The originals stay in staging. Returns the manifest's ``gs://`` URI.

    Needs the plugins folder on ``sys.path`` (``order_tracking``), as Airflow and the tests put it.
    """
    from order_tracking.batch import MANIFEST_NAME, StagedObject, batch_dir, build_manifest
    from order_tracking.claims import claim_objects

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

"""The DAG's Python tasks: cut the batch (manifest), plan the moves, report the outcome.

Each reads the pipeline configuration from the worker's environment when it runs.

They talk to GCS through the Google provider's ``GCSHook`` so that the same code runs against
Cloud Storage on Composer and against the emulator locally.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from airflow.providers.google.cloud.hooks.gcs import GCSHook
from airflow.sdk import task
from airflow.sdk.exceptions import AirflowSkipException

from order_tracking.archive import move_groups
from order_tracking.batch import (
    MANIFEST_NAME,
    MERGE_RESULT_NAME,
    STAGE_RESULT_NAME,
    StagedObject,
    batch_dir,
    batch_id_for_run,
    build_manifest,
    manifest_json,
    select_batch,
)
from order_tracking.config import PipelineConfig

log = logging.getLogger(__name__)


def _list_staged(hook: GCSHook, config: PipelineConfig) -> list[StagedObject]:
    client = hook.get_conn()
    blobs = client.list_blobs(config.bucket, prefix=config.staging_prefix, delimiter="/")
    return [
        StagedObject(
            name=blob.name,
            generation=str(blob.generation) if blob.generation is not None else None,
            size=blob.size,
            md5_hash=blob.md5_hash,
            crc32c=blob.crc32c,
            created=blob.time_created,
        )
        for blob in blobs
    ]


def _read_json(hook: GCSHook, bucket: str, name: str) -> dict[str, Any]:
    return json.loads(hook.download(bucket_name=bucket, object_name=name).decode("utf-8"))


def _batch_summary(manifest: dict[str, Any], manifest_uri: str) -> dict[str, Any]:
    return {
        "batch_id": manifest["batch_id"],
        "manifest_uri": manifest_uri,
        "created_at": manifest["created_at"],
        "objects": len(manifest["objects"]),
    }


@task
def cut_batch(sensed_objects: list[str] | None, run_id: str | None = None) -> dict[str, Any]:
    """Freeze this run's batch in a manifest object; skip the rest of the run if there is nothing to do."""
    assert run_id is not None, "Airflow passes the run id from the task context"
    config = PipelineConfig.from_env()
    hook = GCSHook(gcp_conn_id=config.gcp_conn_id)
    batch_id = batch_id_for_run(run_id)
    manifest_name = batch_dir(config.batches_prefix, batch_id) + MANIFEST_NAME
    manifest_uri = config.gcs_uri(manifest_name)
    if hook.exists(config.bucket, manifest_name):
        log.info("reusing the manifest of batch %s written by an earlier attempt", batch_id)
        return _batch_summary(_read_json(hook, config.bucket, manifest_name), manifest_uri)

    sensed = set(sensed_objects or [])
    listed = [obj for obj in _list_staged(hook, config) if obj.name in sensed]
    batch = select_batch(listed, config.staging_prefix, config.max_objects_per_run)
    if not batch:
        raise AirflowSkipException(
            f"no CSV object to load under gs://{config.bucket}/{config.staging_prefix} "
            f"(sensed {len(sensed)} object(s), none a batch candidate)"
        )
    manifest = build_manifest(batch_id, config.bucket, config.batches_prefix, batch, datetime.now(UTC))
    hook.upload(config.bucket, manifest_name, data=manifest_json(manifest), mime_type="application/json")
    log.info("batch %s: %d object(s), manifest %s", batch_id, len(batch), manifest_uri)
    return _batch_summary(manifest, manifest_uri)


@task
def plan_moves(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """Read the stage job's per-object result and group the objects by destination."""
    config = PipelineConfig.from_env()
    hook = GCSHook(gcp_conn_id=config.gcp_conn_id)
    result_name = batch_dir(config.batches_prefix, batch["batch_id"]) + STAGE_RESULT_NAME
    stage_result = _read_json(hook, config.bucket, result_name)
    cut_date = datetime.fromisoformat(batch["created_at"]).date()
    return move_groups(stage_result, config.archive_prefix, config.quarantine_prefix, cut_date)


@task
def report(batch: dict[str, Any]) -> dict[str, Any]:
    """Log and return the batch's counts from the stage and merge results."""
    config = PipelineConfig.from_env()
    hook = GCSHook(gcp_conn_id=config.gcp_conn_id)
    folder = batch_dir(config.batches_prefix, batch["batch_id"])
    stage_result = _read_json(hook, config.bucket, folder + STAGE_RESULT_NAME)
    merge_result = _read_json(hook, config.bucket, folder + MERGE_RESULT_NAME)
    summary = {
        "batch_id": batch["batch_id"],
        "objects": len(stage_result["objects"]),
        "archived": sum(1 for obj in stage_result["objects"] if obj["destination"] == "archive"),
        "quarantined": sum(1 for obj in stage_result["objects"] if obj["destination"] == "quarantine"),
        "duplicates": sum(1 for obj in stage_result["objects"] if obj["outcome"] == "duplicate"),
        "records_read": stage_result["records_read"],
        "rows_staged": stage_result["rows_staged"],
        "rows_rejected": stage_result["rows_rejected"],
        "inserted": merge_result["inserted"],
        "updated": merge_result["updated"],
        "stale_skipped": merge_result["stale_skipped"],
        "superseded_in_batch": merge_result["superseded_in_batch"],
        "target_rows": merge_result["target_rows"],
    }
    log.info("batch summary: %s", json.dumps(summary, sort_keys=True))
    return summary

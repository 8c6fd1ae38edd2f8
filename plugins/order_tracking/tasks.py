"""The DAG's Python tasks: pick the source, cut the batch (claim + manifest), plan the moves, report,
watch the feed.

Each task that needs the pipeline configuration takes it as its ``pipeline_config`` argument: the
``PipelineConfig.to_dict()`` the DAG file read when it was parsed. The batch documents they write
and read are ``batch_documents``' types. They talk to GCS through the Google provider's ``GCSHook``
(its ``google-cloud-storage`` client) so that the same code runs against Cloud Storage on Composer
and against the emulator locally.

``cut_batch`` returns the batch summary (:func:`batch_summary`), whose keys later tasks and the
Databricks steps take as XComArgs (``batch["manifest_uri"]``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.google.cloud.hooks.gcs import GCSHook
from google.api_core.exceptions import PreconditionFailed

from batch_documents import Manifest, MergeResult, Outcome, RunMode, StageResult
from order_tracking.alerts import SUBJECT_PREFIX, send_alert
from order_tracking.archive import move_groups, placements
from order_tracking.batch import (
    MANIFEST_NAME,
    MERGE_RESULT_NAME,
    STAGE_RESULT_NAME,
    StagedObject,
    archive_day_prefixes,
    batch_dir,
    batch_id_for_run,
    build_manifest,
    is_csv_name,
    oldest_first,
    select_batch,
)
from order_tracking.claims import claim_objects, release_originals
from order_tracking.compat import AirflowFailException, AirflowSkipException, TriggerRule, task
from order_tracking.config import PipelineConfig
from order_tracking.run_modes import RunRequest, RunRequestError, resolve_run_request

log = logging.getLogger(__name__)
SENSOR_TASK_ID = "wait_for_objects"
CUT_BATCH_TASK_ID = "cut_batch"
HEARTBEAT_NAME = "feed_heartbeat.json"


def _staged(blob: Any) -> StagedObject:
    return StagedObject(
        name=blob.name,
        generation=str(blob.generation) if blob.generation is not None else None,
        size=blob.size,
        md5_hash=blob.md5_hash,
        crc32c=blob.crc32c,
        created=blob.time_created,
    )


def _list(hook: GCSHook, bucket: str, prefix: str, delimiter: str | None = None) -> list[StagedObject]:
    return [_staged(blob) for blob in hook.get_conn().list_blobs(bucket, prefix=prefix, delimiter=delimiter)]


def _read(hook: GCSHook, bucket: str, name: str) -> bytes:
    return bytes(hook.download(bucket_name=bucket, object_name=name))


def _read_json(hook: GCSHook, bucket: str, name: str) -> dict[str, Any]:
    return dict(json.loads(_read(hook, bucket, name).decode("utf-8")))


def _write_json(hook: GCSHook, bucket: str, name: str, doc: dict[str, Any]) -> None:
    hook.upload(bucket, name, data=json.dumps(doc, indent=2, sort_keys=True), mime_type="application/json")


def batch_summary(manifest: Manifest, manifest_uri: str) -> dict[str, Any]:
    """What ``cut_batch`` returns (one XCom per key)::

    {"batch_id": str, "manifest_uri": "gs://...", "created_at": ISO 8601 date-time,
     "mode": "incremental" | "objects" | "replay", "dry_run": bool,
     "objects": number of CSV objects, "not_csv": number of not-CSV objects}
    """
    return {
        "batch_id": manifest.batch_id,
        "manifest_uri": manifest_uri,
        "created_at": manifest.created_at.isoformat(),
        "mode": manifest.mode.value,
        "dry_run": manifest.dry_run,
        "objects": len(manifest.objects),
        "not_csv": len(manifest.not_csv),
    }


def _request(params: dict[str, Any] | None, dag_run: Any, start: Any, end: Any) -> RunRequest:
    run_type = getattr(dag_run, "run_type", "")
    run_type = str(getattr(run_type, "value", run_type))  # an enum in the task context: "backfill"
    try:
        return resolve_run_request(params or {}, run_type, start, end)
    except RunRequestError as err:  # a bad form is not retried: it would fail the same way
        raise AirflowFailException(str(err)) from err


@task.branch
def choose_source(
    params: dict[str, Any] | None = None,
    dag_run: Any = None,
    data_interval_start: Any = None,
    data_interval_end: Any = None,
) -> str:
    """Wait for new staging objects (incremental runs) or go straight to the batch (objects, replay)."""
    request = _request(params, dag_run, data_interval_start, data_interval_end)
    log.info("run mode: %s%s", request.mode, " (dry run)" if request.dry_run else "")
    return SENSOR_TASK_ID if request.mode is RunMode.INCREMENTAL else CUT_BATCH_TASK_ID


def _named_objects(hook: GCSHook, config: PipelineConfig, names: tuple[str, ...]) -> list[StagedObject]:
    """The staging objects named in the trigger form; a name that is not there fails the run, by name."""
    bucket = hook.get_conn().bucket(config.bucket)
    wanted = [
        name if name.startswith(config.staging_prefix) else config.staging_prefix + name for name in names
    ]
    found = {name: bucket.get_blob(name) for name in dict.fromkeys(wanted)}
    missing = sorted(name for name, blob in found.items() if blob is None)
    if missing:
        raise AirflowFailException(
            f"objects not found in gs://{config.bucket}/{config.staging_prefix}: {', '.join(missing)} "
            "(names are relative to the staging prefix; to load archived objects again use replay_date)"
        )
    return oldest_first(_staged(blob) for blob in found.values())


def _archived_objects(hook: GCSHook, config: PipelineConfig, request: RunRequest) -> list[StagedObject]:
    assert request.replay_start is not None
    assert request.replay_end is not None
    prefixes = archive_day_prefixes(config.archive_prefix, request.replay_start, request.replay_end)
    return oldest_first(
        obj for prefix in prefixes for obj in _list(hook, config.bucket, prefix) if is_csv_name(obj.name)
    )


def _choose_objects(
    hook: GCSHook, config: PipelineConfig, request: RunRequest
) -> tuple[list[StagedObject], list[StagedObject]]:
    """``(CSV objects, not-CSV objects)`` this run processes, as listed (name, generation, checksums)."""
    if request.mode is RunMode.OBJECTS:
        named = _named_objects(hook, config, request.objects)
        return [o for o in named if is_csv_name(o.name)], [o for o in named if not is_csv_name(o.name)]
    if request.mode is RunMode.REPLAY:
        return _archived_objects(hook, config, request), []
    listed = _list(hook, config.bucket, config.staging_prefix, "/")
    return select_batch(listed, config.staging_prefix, config.max_objects_per_run)


def _write_manifest_once(bucket: Any, name: str, manifest: Manifest) -> Manifest:
    """Write the batch's manifest unless one is there already (a concurrent attempt): then use that one."""
    try:
        bucket.blob(name).upload_from_string(
            manifest.to_json(), content_type="application/json", if_generation_match=0
        )
    except PreconditionFailed:
        log.warning("another attempt wrote the manifest of batch %s first: using it", manifest.batch_id)
        return _own_manifest(bucket.blob(name).download_as_bytes(), manifest.run_id or "")
    return manifest


def _own_manifest(text: str | bytes, run_id: str) -> Manifest:
    """The manifest found under this run's batch id, if an earlier attempt of *this* run wrote it.

    Batch ids are run ids made path-safe (``batch_id_for_run``), so two run ids can share one
    (``load 1`` and ``load:1``). A manifest another run cut is not this run's batch.

    Raises:
        AirflowFailException: the manifest names another run (manifests older than the ``run_id``
            field are taken as this run's, as before).
    """
    manifest = Manifest.from_json(text)
    if manifest.run_id is not None and manifest.run_id != run_id:
        raise AirflowFailException(
            f"run ids {manifest.run_id!r} and {run_id!r} both map to batch {manifest.batch_id!r}, which "
            f"the first one cut: trigger this run again with a run id of its own"
        )
    return manifest


def _finish_cut(
    hook: GCSHook, bucket: Any, config: PipelineConfig, manifest: Manifest, manifest_uri: str
) -> dict[str, Any]:
    """What follows the manifest, for the first attempt and any retry alike (every step idempotent):
    the originals of a loading run give way to their batch copies, and the feed heartbeat moves on."""
    if manifest.moves_objects:
        released = release_originals(bucket, manifest.entries)
        log.info("released %d original(s) of batch %s from staging", released, manifest.batch_id)
    if manifest.mode is RunMode.INCREMENTAL:
        heartbeat = {"last_batch_id": manifest.batch_id, "last_cut_at": manifest.created_at.isoformat()}
        _write_json(hook, config.bucket, config.state_prefix + HEARTBEAT_NAME, heartbeat)
    return batch_summary(manifest, manifest_uri)


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, multiple_outputs=True)
def cut_batch(
    sensed: Any,
    pipeline_config: Mapping[str, Any],
    *,
    params: dict[str, Any] | None = None,
    dag_run: Any = None,
    run_id: str | None = None,
    data_interval_start: Any = None,
    data_interval_end: Any = None,
) -> dict[str, Any]:
    """Claim this run's objects by generation and freeze the batch in a manifest; skip the rest of
    the run if there is nothing to do. Returns the batch summary (:func:`batch_summary`).

    ``sensed`` is the sensor's result (true once an object is directly under the staging prefix;
    none when it was skipped: nothing arrived). A retry finds the manifest and only finishes what
    follows it.

    Raises:
        AirflowSkipException: nothing to load (the rest of the run is skipped).
        AirflowFailException: a contradictory trigger form, or named objects that do not exist.
    """
    assert run_id is not None, "Airflow passes the run id from the task context"
    config = PipelineConfig.from_dict(pipeline_config)
    hook = GCSHook(gcp_conn_id=config.gcp_conn_id)
    bucket = hook.get_conn().bucket(config.bucket)
    batch_id = batch_id_for_run(run_id)
    folder = batch_dir(config.batches_prefix, batch_id)
    manifest_name = folder + MANIFEST_NAME
    manifest_uri = config.gcs_uri(manifest_name)
    if hook.exists(config.bucket, manifest_name):
        log.info("reusing the manifest of batch %s written by an earlier attempt", batch_id)
        manifest = _own_manifest(_read(hook, config.bucket, manifest_name), run_id)
        return _finish_cut(hook, bucket, config, manifest, manifest_uri)

    request = _request(params, dag_run, data_interval_start, data_interval_end)
    if request.mode is RunMode.INCREMENTAL and not sensed:
        raise AirflowSkipException(f"no new object under gs://{config.bucket}/{config.staging_prefix}")
    csv_objects, not_csv = _choose_objects(hook, config, request)
    if not csv_objects and not not_csv:
        raise AirflowSkipException(
            f"nothing to load ({request.mode} run): no object directly under the staging prefix, "
            "or nothing was archived in the replayed period"
        )
    claimed = claim_objects(bucket, config.batches_prefix, batch_id, [*csv_objects, *not_csv])
    csv_names = {obj.name for obj in csv_objects}
    claimed_csv = [obj for obj in claimed if obj.name in csv_names]
    claimed_not_csv = [obj for obj in claimed if obj.name not in csv_names]
    if not claimed:
        raise AirflowSkipException(
            f"nothing to load ({request.mode} run): every listed object changed since it was listed"
        )
    manifest = build_manifest(
        batch_id,
        config.bucket,
        config.batches_prefix,
        claimed_csv,
        datetime.now(UTC),
        mode=request.mode,
        dry_run=request.dry_run,
        not_csv=claimed_not_csv,
        run_id=run_id,
    )
    manifest = _write_manifest_once(bucket, manifest_name, manifest)
    log.info(
        "batch %s (%s%s): %d CSV object(s), %d not CSV, claimed under %s; manifest %s",
        batch_id,
        request.mode,
        ", dry run" if request.dry_run else "",
        len(manifest.objects),
        len(manifest.not_csv),
        config.gcs_uri(folder),
        manifest_uri,
    )
    return _finish_cut(hook, bucket, config, manifest, manifest_uri)


@task.short_circuit(ignore_downstream_trigger_rules=False)
def has_csv_objects(batch: dict[str, Any]) -> bool:
    """No cluster and no Spark step for a batch of non-CSV objects only: they are just quarantined."""
    return int(batch["objects"]) > 0


@task.short_circuit(ignore_downstream_trigger_rules=False)
def writes_enabled(batch: dict[str, Any]) -> bool:
    """A dry run stops after the stage-load step has validated and counted the batch."""
    return not batch["dry_run"]


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def plan_moves(batch: dict[str, Any], pipeline_config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Plan each object's move from its batch copy to its original name under archive/ or
    quarantine/ (from the stage job's per-object result), grouped by destination: the
    ``expand_kwargs`` of the mapped ``move_objects`` (see ``order_tracking.archive.move_groups``)."""
    config = PipelineConfig.from_dict(pipeline_config)
    hook = GCSHook(gcp_conn_id=config.gcp_conn_id)
    folder = batch_dir(config.batches_prefix, batch["batch_id"])
    manifest = Manifest.from_json(_read(hook, config.bucket, folder + MANIFEST_NAME))
    stage_result = (
        StageResult.from_json(_read(hook, config.bucket, folder + STAGE_RESULT_NAME))
        if manifest.objects
        else None
    )
    return move_groups(
        placements(manifest, stage_result),
        manifest.batch_id,
        archive_prefix=config.archive_prefix,
        quarantine_prefix=config.quarantine_prefix,
        staging_prefix=config.staging_prefix,
        run_date=manifest.created_at.date(),  # the cut date
    )


@task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
def report(batch: dict[str, Any], pipeline_config: Mapping[str, Any]) -> dict[str, Any]:
    """Log and return the batch's counts from the stage and merge results."""
    config = PipelineConfig.from_dict(pipeline_config)
    hook = GCSHook(gcp_conn_id=config.gcp_conn_id)
    folder = batch_dir(config.batches_prefix, batch["batch_id"])
    summary: dict[str, Any] = {
        key: batch[key] for key in ("batch_id", "mode", "dry_run", "objects", "not_csv")
    }
    if batch["objects"]:
        stage = StageResult.from_json(_read(hook, config.bucket, folder + STAGE_RESULT_NAME))
        summary |= {
            "loaded": stage.count(Outcome.LOADED),
            "quarantined": stage.count(Outcome.QUARANTINED),
            "duplicates": stage.count(Outcome.DUPLICATE),
            "records_read": stage.records_read,
            "rows_staged": stage.rows_staged,
            "rows_rejected": stage.rows_rejected,
            "reject_reasons": dict(stage.reject_reasons),
        }
    if batch["objects"] and not batch["dry_run"]:
        merged = MergeResult.from_json(_read(hook, config.bucket, folder + MERGE_RESULT_NAME))
        summary |= {
            "inserted": merged.inserted,
            "updated": merged.updated,
            "stale_skipped": merged.stale_skipped,
            "superseded_in_batch": merged.superseded_in_batch,
            "target_rows": merged.target_rows,
        }
    log.info("batch summary: %s", json.dumps(summary, sort_keys=True))
    return summary


def feed_age(heartbeat: dict[str, Any], now: datetime) -> timedelta:
    return now - datetime.fromisoformat(heartbeat["last_cut_at"])


@task(trigger_rule=TriggerRule.ALL_SKIPPED)
def check_feed_freshness(
    pipeline_config: Mapping[str, Any],
    params: dict[str, Any] | None = None,
    dag_run: Any = None,
    data_interval_start: Any = None,
    data_interval_end: Any = None,
) -> dict[str, Any]:
    """When an incremental run found nothing to load, alert if no object has arrived for a while.

    The first check with no heartbeat starts the clock instead of alerting. Replays, backfills and
    runs on named objects say nothing about the feed.
    """
    request = _request(params, dag_run, data_interval_start, data_interval_end)
    if request.mode is not RunMode.INCREMENTAL:
        raise AirflowSkipException(f"a {request.mode} run says nothing about the feed")
    config = PipelineConfig.from_dict(pipeline_config)
    hook = GCSHook(gcp_conn_id=config.gcp_conn_id)
    name = config.state_prefix + HEARTBEAT_NAME
    now = datetime.now(UTC)
    if not hook.exists(config.bucket, name):
        _write_json(hook, config.bucket, name, {"last_batch_id": None, "last_cut_at": now.isoformat()})
        return {"stale": False, "age_seconds": 0}
    heartbeat = _read_json(hook, config.bucket, name)
    age = feed_age(heartbeat, now)
    stale = age > timedelta(seconds=config.stale_feed_seconds)
    if stale:
        run_id = getattr(dag_run, "run_id", "?")
        send_alert(
            f"{SUBJECT_PREFIX} STALE FEED no new object for {age} (run {run_id})",
            f"No CSV object has arrived under gs://{config.bucket}/{config.staging_prefix} since "
            f"{heartbeat['last_cut_at']} (threshold {timedelta(seconds=config.stale_feed_seconds)}). "
            "What to do: see the README's section 'What each alert means', STALE FEED.",
            emails=config.alert_recipients,
            smtp_conn_id=config.smtp_conn_id,
            slack_conn_id=config.slack_conn_id,
        )
    log.info("feed age %s (stale: %s)", age, stale)
    return {"stale": stale, "age_seconds": int(age.total_seconds())}

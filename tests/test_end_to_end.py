"""The real DAG, end to end: GCS emulator -> local Databricks runner -> Spark + Delta -> archive.

``airflow dags test`` runs the production DAG file with the provider operators (deferrable sensor
and Databricks operators included) against the stack started by the fixtures; the expected target
comes from a small pure-Python model of the upsert rule, not from the pipeline itself. Each test
gets its own Delta tables folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_stack.databricks_runner import RunnerServer
from local_stack.samples import sample_objects
from tests.batches import expected_target

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
DAG_ID = "order_tracking_incremental_load"


@pytest.fixture
def run_dag(airflow_local_env: dict[str, str], tmp_path: Path) -> Any:
    """Run the DAG once with ``airflow dags test`` (optionally with a trigger-form conf); own tables."""
    tables = tmp_path / "tables"

    def run(conf: dict[str, Any] | None = None, **settings: str) -> str:
        env = airflow_local_env | {
            "ORDER_TRACKING_TABLES_ROOT": str(tables),
            "ORDER_TRACKING_RUN_DEADLINE_SECONDS": "0",  # `dags test` cannot evaluate deadlines
        }
        env |= {f"ORDER_TRACKING_{key.upper()}": value for key, value in settings.items()}
        command = [sys.executable, "-m", "airflow", "dags", "test", DAG_ID]
        if conf is not None:
            command += ["--conf", json.dumps(conf)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
        return done.stdout + done.stderr

    run.tables = tables  # type: ignore[attr-defined]
    return run


def _names(gcs: Any, prefix: str) -> list[str]:
    return sorted(blob.name for blob in gcs.list_blobs("tracking_orders", prefix=prefix))


def _target(spark: Any, tables: Path) -> dict[str, tuple[str, datetime]]:
    rows = spark.read.format("delta").load(str(tables / "target_zn_new")).collect()
    return {r.tracking_num: (r.status, r.event_ts) for r in rows}


def test_one_dag_run_loads_merges_and_archives_on_one_cluster(
    run_dag: Any, bucket: Any, gcs: Any, spark: Any, databricks: RunnerServer
) -> None:
    files = sample_objects(objects=3, rows_per_object=60, parcels=50, bad_share=0.1)
    for name, data in files.items():
        bucket.blob(f"staging_zn/{name}").upload_from_string(data, content_type="text/csv")
    bucket.blob("staging_zn/").upload_from_string(b"")  # a console-made "folder" placeholder
    bucket.blob("staging_zn/upload.csv.tmp").upload_from_string(b"partial upload")  # not a CSV
    service = databricks.service
    submits, starts = service.api_calls["runs/submit"], service.cluster_starts
    running = service.stats()["clusters_running"]

    run_dag()

    assert _target(spark, run_dag.tables) == expected_target(files)
    bad_rows = sum(data.count(b",LOST,") for data in files.values())
    rejects = spark.read.format("delta").load(str(run_dag.tables / "rejects_zn_new")).collect()
    assert bad_rows > 0
    assert sorted(r.reason for r in rejects) == ["invalid_status"] * bad_rows

    assert _names(gcs, "staging_zn/") == ["staging_zn/"]  # only the placeholder is left
    assert sorted(n.rsplit("/", 1)[-1] for n in _names(gcs, "archive/")) == sorted(files)
    assert [n.rsplit("/", 1)[-1] for n in _names(gcs, "quarantine/")] == ["upload.csv.tmp"]
    assert service.api_calls["runs/submit"] - submits == 2  # stage_load, merge
    assert service.cluster_starts - starts == 1  # both steps on the run's one cluster
    assert service.stats()["clusters_running"] == running  # the teardown deleted it


def test_a_placeholder_alone_ends_the_run_early(
    run_dag: Any, bucket: Any, gcs: Any, databricks: RunnerServer
) -> None:
    bucket.blob("staging_zn/").upload_from_string(b"")
    bucket.blob("staging_zn/sub/old.csv").upload_from_string(b"tracking_num\n")  # sub-folders are ignored
    calls = sum(databricks.service.api_calls.values())

    output = run_dag()

    assert "nothing to load" in output
    assert sum(databricks.service.api_calls.values()) == calls  # no cluster, no Spark step
    assert _names(gcs, "staging_zn/") == ["staging_zn/", "staging_zn/sub/old.csv"]  # nothing moved
    assert _names(gcs, "_state/") == ["_state/feed_heartbeat.json"]  # the stale-feed clock started


def test_a_dry_run_on_named_objects_validates_and_reports_without_writing(
    run_dag: Any, bucket: Any, gcs: Any
) -> None:
    files = sample_objects(objects=2, rows_per_object=40, parcels=30, bad_share=0.1)
    for name, data in files.items():
        bucket.blob(f"staging_zn/{name}").upload_from_string(data, content_type="text/csv")

    output = run_dag({"objects": ["orders_001.csv"], "dry_run": True})

    assert not run_dag.tables.exists()  # no table was even created
    assert _names(gcs, "staging_zn/") == ["staging_zn/orders_001.csv", "staging_zn/orders_002.csv"]
    (result_name,) = [n for n in _names(gcs, "_batches/") if n.endswith("stage_result.json")]
    result = json.loads(bucket.blob(result_name).download_as_bytes())
    bad_rows = files["orders_001.csv"].count(b",LOST,")
    assert result["dry_run"] is True
    assert [o["name"] for o in result["objects"]] == ["staging_zn/orders_001.csv"]
    assert (result["records_read"], result["rows_rejected"]) == (40, bad_rows)
    assert result["reject_reasons"] == ({"invalid_status": bad_rows} if bad_rows else {})
    assert '"dry_run": true' in output  # the report task's summary


def test_replaying_a_day_repairs_a_damaged_target_and_moves_nothing(
    run_dag: Any, bucket: Any, gcs: Any, spark: Any
) -> None:
    files = sample_objects(objects=2, rows_per_object=50, parcels=40, bad_share=0.0)
    for name, data in files.items():
        bucket.blob(f"staging_zn/{name}").upload_from_string(data, content_type="text/csv")
    run_dag()
    archived = _names(gcs, "archive/")
    target_path = str(run_dag.tables / "target_zn_new")
    spark.sql(f"DELETE FROM delta.`{target_path}` WHERE tracking_num < '1Z00000020'")  # damage
    assert _target(spark, run_dag.tables) != expected_target(files)

    run_dag({"replay_date": datetime.now(UTC).date().isoformat()})

    assert _target(spark, run_dag.tables) == expected_target(files)
    assert _names(gcs, "archive/") == archived  # replayed objects stay where they are
    assert _names(gcs, "staging_zn/") == []


def test_retries_never_start_a_second_run_of_a_step(
    run_dag: Any, bucket: Any, spark: Any, databricks: RunnerServer
) -> None:
    """A 503 that loses a submit answer and a failed merge: each step ends with one successful run."""
    files = sample_objects(objects=1, rows_per_object=30, parcels=20, bad_share=0.0)
    bucket.blob("staging_zn/orders_001.csv").upload_from_string(files["orders_001.csv"])
    service = databricks.service
    stage_runs, merge_runs = len(service.runs_of("stage_load")), len(service.runs_of("merge"))
    service.http_faults["runs/submit"] += 1  # stage_load's run starts, its answer is lost
    service.task_faults["merge"] += 1  # the first merge run fails: Airflow retries the task

    run_dag(retry_delay_seconds="1")

    new_stage = service.runs_of("stage_load")[stage_runs:]
    new_merge = service.runs_of("merge")[merge_runs:]
    assert [r["state"]["result_state"] for r in new_stage] == ["SUCCESS"]
    assert [r["state"]["result_state"] for r in new_merge] == ["FAILED", "SUCCESS"]
    assert _target(spark, run_dag.tables) == expected_target(files)

"""The real DAG, end to end: GCS emulator -> local Databricks runner -> Spark + Delta -> archive.

``airflow dags test`` runs the production DAG file with the provider operators (deferrable sensor
and Databricks operators included) against the stack started by the fixtures; the expected target
comes from a small pure-Python model of the upsert rule, not from the pipeline itself. Each test
gets its own Delta tables folder.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_stack.runner_client import RunnerClient
from local_stack.samples import sample_objects
from tests.batches import expected_target
from tests.run_states import AFTER_THE_CUT, SPARK_STEPS, by_task, ending

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
DAG_ID = "order_tracking_incremental_load"
# ``airflow dags test`` runs a deferred task's trigger in line until it fires: a sensor waiting on
# an empty prefix would wait for ever. This runs it with each trigger bounded as the triggerer
# bounds a deferral; at the bound the trigger reports "Trigger timeout" as an error event, which the
# sensor turns into its soft-fail skip (the triggerer's own timeout is its ``__fail__`` resumption:
# tests/dags covers that one, tests/live watches a real triggerer).
TRIGGERS_TIME_OUT = """
import asyncio, sys
from airflow.__main__ import main
from airflow.sdk.definitions import dag as dag_module
from airflow.triggers.base import TriggerEvent

seconds = float(sys.argv.pop(1))
run_in_line = dag_module._run_inline_trigger

def bounded(trigger, ti):
    unbounded = trigger.run

    async def run():
        try:
            yield await asyncio.wait_for(anext(unbounded()), seconds)
        except TimeoutError:
            yield TriggerEvent({"status": "error", "message": "Trigger timeout"})

    trigger.run = run
    return run_in_line(trigger, ti)

dag_module._run_inline_trigger = bounded
sys.argv[0] = "airflow"
main()
"""


@pytest.fixture
def run_dag(airflow_local_env: dict[str, str], airflow_python: str, tmp_path: Path) -> Any:
    """Run the DAG once with ``airflow dags test`` (optionally with a trigger-form conf); own tables."""
    tables = tmp_path / "tables"

    def run(
        conf: dict[str, Any] | None = None,
        on_line: Callable[[str], None] | None = None,
        expect_success: bool = True,
        triggers_time_out_after: float | None = None,
        **settings: str,
    ) -> str:
        """``on_line`` sees the output line by line while the run goes on (to act at a given moment);
        ``triggers_time_out_after`` bounds each deferral (seconds; see TRIGGERS_TIME_OUT)."""
        env = airflow_local_env | {
            "ORDER_TRACKING_TABLES_ROOT": str(tables),
            "ORDER_TRACKING_RUN_DEADLINE_SECONDS": "0",  # `dags test` cannot evaluate deadlines
        }
        env |= {f"ORDER_TRACKING_{key.upper()}": value for key, value in settings.items()}
        command = [airflow_python, "-m", "airflow", "dags", "test", DAG_ID]
        if triggers_time_out_after is not None:
            command[1:3] = ["-c", TRIGGERS_TIME_OUT, str(triggers_time_out_after)]
        if conf is not None:
            command += ["--conf", json.dumps(conf)]
        if on_line is None:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
            output = done.stdout + done.stderr
            assert (done.returncode == 0) is expect_success, output[-6000:]  # "DagRun failed": exit 1
            return output
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process:
            watchdog = threading.Timer(900, process.kill)
            watchdog.start()
            lines = []
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                on_line(line)
            watchdog.cancel()
        output = "".join(lines)
        assert process.returncode == 0, output[-6000:]
        return output

    def task_states() -> dict[str, str | None]:
        """``{task_id: state}`` of the latest run, from the metadata DB ``airflow dags test`` wrote."""
        database = airflow_local_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
        with sqlite3.connect(database) as db:
            rows = db.execute(
                "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = "
                "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)",
                (DAG_ID, DAG_ID),
            ).fetchall()
        return by_task({task if index < 0 else f"{task}[{index}]": state for task, index, state in rows})

    run.tables = tables  # type: ignore[attr-defined]
    run.task_states = task_states  # type: ignore[attr-defined]
    return run


def _names(gcs: Any, prefix: str) -> list[str]:
    return sorted(blob.name for blob in gcs.list_blobs("tracking_orders", prefix=prefix))


def _target(spark: Any, tables: Path) -> dict[str, tuple[str, datetime]]:
    rows = spark.read.format("delta").load(str(tables / "target_zn_new")).collect()
    return {r.tracking_num: (r.status, r.event_ts) for r in rows}


@pytest.mark.lane_e2e
def test_one_dag_run_loads_merges_and_archives_on_one_cluster(
    run_dag: Any, bucket: Any, gcs: Any, spark: Any, databricks: RunnerClient
) -> None:
    samples = sample_objects(objects=3, rows_per_object=60, parcels=50, bad_share=0.1)
    # Names Spark would read as a glob or URL-decode; in the samples' (and sorted) order.
    files = dict(zip(["orders (1).csv", "orders[1].csv", "orders_%20*?.csv"], samples.values(), strict=True))
    for name, data in files.items():
        bucket.blob(f"staging_zn/{name}").upload_from_string(data, content_type="text/csv")
    bucket.blob("staging_zn/").upload_from_string(b"")  # a console-made "folder" placeholder
    bucket.blob("staging_zn/upload.csv.tmp").upload_from_string(b"partial upload")  # not a CSV
    before = databricks.stats()

    run_dag()

    assert _target(spark, run_dag.tables) == expected_target(files)
    bad_rows = sum(data.count(b",LOST,") for data in files.values())
    rejects = spark.read.format("delta").load(str(run_dag.tables / "rejects_zn_new")).collect()
    assert bad_rows > 0
    assert sorted(r.reason for r in rejects) == ["invalid_status"] * bad_rows
    staged = spark.read.format("delta").load(str(run_dag.tables / "stage_zn_new")).collect()
    assert {r.source_object for r in staged} == {f"staging_zn/{name}" for name in files}  # lineage

    assert _names(gcs, "staging_zn/") == ["staging_zn/"]  # only the placeholder is left
    assert sorted(n.rsplit("/", 1)[-1] for n in _names(gcs, "archive/")) == sorted(files)
    assert [n.rsplit("/", 1)[-1] for n in _names(gcs, "quarantine/")] == ["upload.csv.tmp"]
    assert [n for n in _names(gcs, "_batches/") if "/objects/" in n] == []  # every batch copy moved
    after = databricks.stats()
    assert after["api_calls"]["runs/submit"] - before["api_calls"].get("runs/submit", 0) == 2  # the steps
    for step in ("stage_load", "merge"):  # what reached Databricks: named parameters only
        wheel = databricks.runs_of(step)[-1]["python_wheel_task"]
        assert "parameters" not in wheel
        assert wheel["named_parameters"]["manifest"].endswith("/manifest.json")
    assert after["cluster_starts"] - before["cluster_starts"] == 1  # both steps on the run's one cluster
    assert after["clusters_running"] == before["clusters_running"]  # the teardown deleted it
    assert run_dag.task_states() == ending("check_feed_freshness")  # something to load: no feed check


def test_a_placeholder_or_a_sub_folder_object_does_not_start_a_run(
    run_dag: Any, bucket: Any, gcs: Any, databricks: RunnerClient
) -> None:
    """The sensor keeps waiting past them (it defers); a stray non-CSV object arriving later is
    quarantined without a cluster or a Spark step (``has_csv_objects`` short-circuits them)."""
    bucket.blob("staging_zn/").upload_from_string(b"")
    bucket.blob("staging_zn/sub/old.csv").upload_from_string(b"tracking_num\n")  # sub-folders are ignored
    calls = databricks.api_calls()
    deferred = threading.Event()

    def drop_when_deferred(line: str) -> None:
        if "running trigger in line" in line and not deferred.is_set():
            deferred.set()  # the sensor's first poke found nothing: now something arrives
            bucket.blob("staging_zn/notes (1).json").upload_from_string(b"{}")

    run_dag(on_line=drop_when_deferred)

    assert deferred.is_set()
    assert databricks.api_calls() == calls  # no cluster, no Spark step
    assert _names(gcs, "staging_zn/") == ["staging_zn/", "staging_zn/sub/old.csv"]  # never moved
    assert [n.rsplit("/", 1)[-1] for n in _names(gcs, "quarantine/")] == ["notes (1).json"]
    assert _names(gcs, "_state/") == ["_state/feed_heartbeat.json"]  # the stale-feed clock started
    assert run_dag.task_states() == ending("check_feed_freshness", *SPARK_STEPS)


@pytest.mark.lane_e2e
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
    assert [n for n in _names(gcs, "_batches/") if "/objects/" in n] == []  # its batch copy discarded
    # named objects: no sensor; writes_enabled short-circuits the merge, the cluster still goes
    assert run_dag.task_states() == ending("wait_for_objects", "check_feed_freshness", "merge")


def test_a_run_that_finds_nothing_to_load_checks_the_feed_and_finds_it_stale(
    run_dag: Any, bucket: Any, gcs: Any, databricks: RunnerClient
) -> None:
    """Nothing arrives: the sensor times out and is skipped (soft fail), ``cut_batch`` skips the
    rest of the run, and only ``check_feed_freshness`` runs: the last cut is two days old, so it
    raises the stale-feed alert."""
    last_seen = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    heartbeat = json.dumps({"last_batch_id": "long_ago", "last_cut_at": last_seen})
    bucket.blob("_state/feed_heartbeat.json").upload_from_string(heartbeat)
    bucket.blob("staging_zn/").upload_from_string(b"")  # a placeholder is not something to load
    calls = databricks.api_calls()

    output = run_dag(triggers_time_out_after=3, stale_feed_seconds="3600")

    assert run_dag.task_states() == ending("wait_for_objects", "cut_batch", *AFTER_THE_CUT)
    assert "Skipping due to soft_fail" in output
    assert "[order-tracking] STALE FEED no new object for 2 days" in output  # no channel set: logged
    assert databricks.api_calls() == calls
    assert _names(gcs, "staging_zn/") == ["staging_zn/"]
    assert bucket.blob("_state/feed_heartbeat.json").download_as_bytes().decode() == heartbeat  # unmoved


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
    assert [n for n in _names(gcs, "_batches/") if "/objects/" in n] == []  # replay copies discarded
    assert _names(gcs, "staging_zn/") == []


def test_retries_never_start_a_second_run_of_a_step(
    run_dag: Any, bucket: Any, spark: Any, databricks: RunnerClient
) -> None:
    """A 503 that loses a submit answer and a failed merge: each step ends with one successful run."""
    files = sample_objects(objects=1, rows_per_object=30, parcels=20, bad_share=0.0)
    bucket.blob("staging_zn/orders_001.csv").upload_from_string(files["orders_001.csv"])
    stage_runs, merge_runs = len(databricks.runs_of("stage_load")), len(databricks.runs_of("merge"))
    databricks.add_faults(
        http={"runs/submit": 1},  # stage_load's run starts, its answer is lost
        tasks={"merge": 1},  # the first merge run fails: Airflow retries the task
    )

    run_dag(retry_delay_seconds="1")

    new_stage = databricks.runs_of("stage_load")[stage_runs:]
    new_merge = databricks.runs_of("merge")[merge_runs:]
    assert [r["state"]["result_state"] for r in new_stage] == ["SUCCESS"]
    assert [r["state"]["result_state"] for r in new_merge] == ["FAILED", "SUCCESS"]
    assert _target(spark, run_dag.tables) == expected_target(files)


CASES = Path(__file__).resolve().parent / "data" / "feed_robustness"


def test_a_batch_of_every_handed_case_loads_the_good_rows_and_blocks_nothing(
    run_dag: Any, bucket: Any, gcs: Any, spark: Any, generated_code: None
) -> None:
    """Odd names, producer columns named like ours, mixed line endings, tabs, extreme years, a row
    wider than Spark can read, and good files, in one batch: every object ends in archive or
    quarantine with a reason, every good row loads, every bad row is a reject with its reason.
    Run with Spark's generated code, as in production (the rest of the suite runs interpreted)."""
    drop = {
        "orders[1].csv": CASES / "glob_bracket_name_blocks_batch" / "orders[1].csv",
        "good.csv": CASES / "glob_bracket_name_blocks_batch" / "good.csv",
        "orders (1).csv": CASES / "lineage_name_space_paren" / "orders (1).csv",
        "extra_source_object.csv": CASES / "extra_col_source_object" / "extra_source_object.csv",
        "p2.csv": CASES / "extra_col_path_breaks_merge" / "run2" / "p2.csv",
        "crlf_mixed_tn_last.csv": CASES / "mixed_line_endings_key_cr" / "crlf_mixed_tn_last.csv",
        "status_trailing_tab.csv": CASES / "tab_nbsp_not_trimmed" / "status_trailing_tab.csv",
        "extreme_years.csv": CASES / "extreme_years" / "extreme_years.csv",
    }
    for name, path in drop.items():
        bucket.blob(f"staging_zn/{name}").upload_from_string(path.read_bytes(), content_type="text/csv")
    header = b"tracking_num,order_id,carrier,status,event_ts\n"
    bucket.blob("staging_zn/wide?.csv").upload_from_string(header + b",".join([b"x"] * 25_000) + b"\n")

    run_dag()

    rows = spark.read.format("delta").load(str(run_dag.tables / "target_zn_new")).collect()
    assert {r.tracking_num: r.status for r in rows} == {
        "B1": "IN_TRANSIT",
        "G2": "IN_TRANSIT",
        "P1": "IN_TRANSIT",
        "P2": "IN_TRANSIT",
        "AB1": "IN_TRANSIT",
        "AB2": "DELIVERED",
        "T1": "DELIVERED",
        "T2": "DELIVERED",
        "T3": "IN_TRANSIT",
    }
    assert {r.tracking_num: r.source_object for r in rows}["B1"] == "staging_zn/orders[1].csv"
    assert {r.tracking_num: r.source_object for r in rows}["P1"] == "staging_zn/orders (1).csv"
    rejects = spark.read.format("delta").load(str(run_dag.tables / "rejects_zn_new")).collect()
    assert sorted((r.source_object, r.record_index, r.reason) for r in rejects) == [
        ("staging_zn/extreme_years.csv", 1, "invalid_event_ts"),
        ("staging_zn/extreme_years.csv", 2, "invalid_event_ts"),
    ]
    ledger = spark.read.format("delta").load(str(run_dag.tables / "ledger_zn_new")).collect()
    assert {r.object_name.rsplit("/", 1)[-1]: (r.outcome, r.reason) for r in ledger} == {
        "orders[1].csv": ("loaded", None),
        "good.csv": ("loaded", None),
        "orders (1).csv": ("loaded", None),
        "extra_source_object.csv": ("quarantined", "reserved_column_name"),
        "p2.csv": ("quarantined", "reserved_column_name"),
        "crlf_mixed_tn_last.csv": ("loaded", None),
        "status_trailing_tab.csv": ("loaded", None),
        "extreme_years.csv": ("loaded", None),
        "wide?.csv": ("quarantined", "unreadable"),
    }
    assert _names(gcs, "staging_zn/") == []
    archived = sorted(n.rsplit("/", 1)[-1] for n in _names(gcs, "archive/"))
    quarantined = sorted(n.rsplit("/", 1)[-1] for n in _names(gcs, "quarantine/"))
    assert archived == sorted(n for n in drop if n not in ("extra_source_object.csv", "p2.csv"))
    assert quarantined == ["extra_source_object.csv", "p2.csv", "wide?.csv"]


def test_a_batch_that_keeps_failing_is_held_and_later_objects_still_load(
    run_dag: Any, bucket: Any, gcs: Any, spark: Any, databricks: RunnerClient
) -> None:
    """A stage step that fails every attempt fails its run (and alerts); the run's claimed objects
    wait in its batch folder, and the next run loads what arrived since."""
    files = sample_objects(objects=2, rows_per_object=20, parcels=15, bad_share=0.0)
    first, later = sorted(files)
    bucket.blob(f"staging_zn/{first}").upload_from_string(files[first], content_type="text/csv")
    databricks.add_faults(tasks={"stage_load": 100})  # more than every attempt can use up
    try:
        run_dag(task_retries="1", retry_delay_seconds="1", expect_success=False)
    finally:
        databricks.clear_faults()

    held = [n for n in _names(gcs, "_batches/") if "/objects/" in n]
    assert len(held) == 1  # the failed batch holds its copy of the object
    assert _names(gcs, "staging_zn/") == []
    assert _names(gcs, "archive/") == []
    bucket.blob(f"staging_zn/{later}").upload_from_string(files[later], content_type="text/csv")

    run_dag()

    assert _target(spark, run_dag.tables) == expected_target({later: files[later]})
    assert [n.rsplit("/", 1)[-1] for n in _names(gcs, "archive/")] == [later]
    assert [n for n in _names(gcs, "_batches/") if "/objects/" in n] == held  # still held, untouched

"""The real DAG, end to end: GCS emulator -> local Databricks runner -> Spark + Delta -> archive.

``airflow dags test`` runs the production DAG file with the provider operators (deferrable sensor
and Databricks operators included) against the stack started by the fixtures; the expected target
comes from a small pure-Python model of the upsert rule, not from the pipeline itself.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from local_stack.databricks_runner import RunnerServer
from local_stack.samples import sample_objects
from spark_tasks.contract import STATUSES

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
DAG_ID = "order_tracking_incremental_load"


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


def test_one_dag_run_loads_merges_and_archives(
    airflow_local_env: dict[str, str],
    bucket: Any,
    gcs: Any,
    spark: Any,
    warehouse: Path,
    databricks: RunnerServer,
) -> None:
    files = sample_objects(objects=3, rows_per_object=60, parcels=50, bad_share=0.1)
    for name, data in files.items():
        bucket.blob(f"staging_zn/{name}").upload_from_string(data, content_type="text/csv")
    bucket.blob("staging_zn/").upload_from_string(b"")  # a console-made "folder" placeholder
    bucket.blob("staging_zn/upload.csv.tmp").upload_from_string(b"partial upload")  # not a CSV

    submits_before = databricks.service.api_calls["runs/submit"]
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", DAG_ID],
        env=airflow_local_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]

    target = spark.read.format("delta").load(str(warehouse / "target_zn_new")).collect()
    assert {r.tracking_num: (r.status, r.event_ts) for r in target} == expected_target(files)
    assert all(r.batch_id and r.source_object for r in target)
    bad_rows = sum(data.count(b",LOST,") for data in files.values())
    rejects = spark.read.format("delta").load(str(warehouse / "rejects_zn_new")).collect()
    assert bad_rows > 0
    assert sorted(r.reason for r in rejects) == ["invalid_status"] * bad_rows

    names = sorted(blob.name for blob in gcs.list_blobs("tracking_orders"))
    assert [n for n in names if n.startswith("staging_zn/")] == ["staging_zn/", "staging_zn/upload.csv.tmp"]
    archived = [n for n in names if n.startswith("archive/")]
    assert sorted(n.rsplit("/", 1)[-1] for n in archived) == sorted(files)
    assert databricks.service.api_calls["runs/submit"] - submits_before == 2  # stage_load, merge

"""The benchmark's end-to-end sections (latency, orchestration) in smoke mode, on the live tests' stack.

They need a running Airflow. The live tests already keep one up (``live_airflow``, on the session's
emulator, runner and SparkSession), so this reuses it rather than starting a second one (~40-60 s):
one small object, one run triggered through the REST API (the live stack's schedule is off), then
the harness's figures, page and JSON. Targets are never asserted (speed is for ``make bench``).
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from bench.config import BenchConfig
from bench.harness import run_bench
from bench.live_runs import OBJECT_PREFIX
from bench.live_stack import LiveStack
from local_stack.runner_client import RunnerClient
from tests.live.live_airflow import LiveAirflow

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
SECTIONS = ["latency", "orchestration"]


def test_latency_and_orchestration_sections_in_smoke_mode(
    live_airflow: LiveAirflow, databricks: RunnerClient, bucket: Any, spark: Any, tmp_path: Path
) -> None:
    stack = LiveStack(
        api=live_airflow.api,
        bucket=bucket,
        runner=databricks,
        tables_root=live_airflow.tables_root,
        env=live_airflow.env,
        scheduled=False,
        check_running=live_airflow.services.check_running,
        started_in_seconds=live_airflow.started_in_seconds,
        dag_id=live_airflow.dag_id,
    )
    cfg = BenchConfig.build(tmp_path / "work", tmp_path / "out", smoke=True)
    target = live_airflow.tables_root / "target_zn_new"
    try:
        run = run_bench(spark, cfg, SECTIONS, log=print, stack=lambda: nullcontext(stack))
    finally:  # later live tests compare the whole target with what they loaded
        if (target / "_delta_log").exists():
            spark.sql(f"DELETE FROM delta.`{target}` WHERE source_object LIKE '%/{OBJECT_PREFIX}%'")

    assert run.errors == {}
    by_name = {r.name: r for r in run.results}
    assert list(by_name) == SECTIONS
    for result in run.results:
        assert result.checks, result.name
        assert all(math.isfinite(f.value) and f.value >= 0 for f in result.figures), result.name

    latency = by_name["latency"]
    figures = {f.name: f.value for f in latency.figures}
    assert figures["latency_uploads"] == 1
    assert 0 < figures["latency_min_seconds"] <= figures["latency_median_seconds"] < 600
    segments = latency.raw["segments"]
    assert math.isclose(
        sum(s["runs"][0] for s in segments.values()), figures["latency_median_seconds"], abs_tol=0.01
    )  # the critical path accounts for the whole latency
    assert figures["latency_spark_seconds"] > 0

    orchestration = by_name["orchestration"].raw
    calls = orchestration["runs"][0]["api_calls"]
    assert orchestration["api_calls_total"] == [sum(calls.values())]
    assert calls["runs/submit"] == orchestration["spark_jobs"][0] > 0  # each submission ran one job
    assert orchestration["cluster_starts"][0] >= 1

    page = run.page.read_text()
    assert "End-to-end latency" in page
    assert "Orchestration cost" in page
    assert "not measured by this harness yet" not in page
    assert set(json.loads(run.raw.read_text())["sections"]) == set(SECTIONS)

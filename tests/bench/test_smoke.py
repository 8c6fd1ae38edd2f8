"""The benchmark harness in smoke mode, on the test run's shared SparkSession.

It must run every Spark section end to end and write the page, the raw JSON and the plot, with
numbers in each section; timing targets are never asserted here (speed is for ``make bench``, not for
tests). The end-to-end sections (latency, orchestration) need a running Airflow: their smoke test is
``tests/live/test_bench_live_smoke.py``, on the live tests' stack.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench.config import BenchConfig
from bench.dag_parse import DAG_FILE, airflow_env, minimal_dag_source, operator_imports
from bench.datagen import batch_shape
from bench.harness import run_bench

SECTIONS = {"stage", "merge", "dag_parse"}


def test_batch_shape_adds_up() -> None:
    shape = batch_shape(1_003)
    assert sum(shape.values()) == 1_003
    assert shape["stale_skipped"] > 0
    assert shape["superseded_in_batch"] > 0
    updates = shape["updated"] + shape["stale_skipped"]
    assert abs(updates - shape["inserted"] - shape["superseded_in_batch"]) <= 2  # half updates


def test_minimal_dag_imports_our_operators_airflow_classes_and_nothing_first_party(tmp_path: Path) -> None:
    operators = operator_imports(DAG_FILE, airflow_env(tmp_path))
    assert any(module.startswith("airflow.providers.databricks") for module, _ in operators)
    source = minimal_dag_source(DAG_FILE, operators)
    compile(source, "minimal.py", "exec")
    assert "order_tracking" not in source


@pytest.mark.spark
def test_smoke_run_writes_figures_for_every_section(spark: Any, tmp_path: Path) -> None:
    cfg = BenchConfig.build(tmp_path / "work", tmp_path / "out", smoke=True)
    run = run_bench(spark, cfg, sorted(SECTIONS), log=lambda _line: None)

    assert run.errors == {}
    assert {r.name for r in run.results} == SECTIONS
    for result in run.results:
        assert result.figures, result.name
        assert all(math.isfinite(f.value) and f.value >= 0 for f in result.figures), result.name
        assert result.checks, result.name
        assert any(f.unit == "s" and f.value > 0 for f in result.figures), result.name

    by_name = {r.name: r for r in run.results}
    stage = by_name["stage"].raw
    assert stage["feed"]["records"] == cfg.stage_rows
    assert stage["rows_rejected"] == stage["feed"]["bad_records"] > 0  # the job rejects exactly the bad rows
    merge = by_name["merge"].raw
    assert merge["counts_match"]  # our merge's counts equal the generated batch's shape
    for scenario in merge["scenarios"]:
        rows_after = {m: v["rows_after"] for m, v in scenario["methods"].items()}
        assert rows_after["merge"] == rows_after["full_rewrite"]  # same result, two ways
        assert scenario["methods"]["merge"]["cost"]["rows_written"] > 0
    assert any(s["methods"]["merge"]["memory"] for s in merge["scenarios"])  # largest target measured

    assert run.page == tmp_path / "out" / "benchmarks.md"
    page = run.page.read_text()
    for result in run.results:
        for check in result.checks:
            assert check.target in page
    doc = json.loads(run.raw.read_text())
    assert set(doc["sections"]) == SECTIONS
    assert doc["config"]["smoke"] is True
    assert run.plot is not None
    assert run.plot.read_bytes().startswith(b"\x89PNG")

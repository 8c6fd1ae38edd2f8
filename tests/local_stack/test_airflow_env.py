"""The local Airflow's environment: the DAG looks where the local stack serves, whatever the shell says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.airflow_env import (
    LOCAL_FEED,
    REPO,
    LocalStackAddresses,
    airflow_env,
    dag_settings_problem,
    overridden_feed_notes,
)
from local_stack.settings import BUCKET, STAGING_PREFIX
from order_tracking.config import PipelineConfig

PRODUCTION = {
    "ORDER_TRACKING_BUCKET": "acme-prod-feeds",
    "ORDER_TRACKING_STAGING_PREFIX": "carriers/in/",
    "ORDER_TRACKING_GCP_CONN_ID": "gcp_prod",
}


def _env(tmp_path: Path) -> dict[str, str]:
    stack = LocalStackAddresses("http://127.0.0.1:9999", 8099, tmp_path / "warehouse")
    return airflow_env(tmp_path / "airflow", stack, api_port=8098)


def test_local_feed_is_the_dags_own_defaults() -> None:
    defaults = PipelineConfig()
    assert {
        f"ORDER_TRACKING_{name.upper()}": getattr(defaults, name)
        for name in (
            "bucket",
            "staging_prefix",
            "archive_prefix",
            "quarantine_prefix",
            "batches_prefix",
            "state_prefix",
            "gcp_conn_id",
            "databricks_conn_id",
            "trigger",
        )
    } == LOCAL_FEED
    assert (defaults.bucket, defaults.staging_prefix) == (BUCKET, STAGING_PREFIX)


def test_production_settings_in_the_shell_do_not_reach_the_local_dag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ORDER_TRACKING_SCHEMA_POLICY", "add")  # a setting to try locally: kept
    config = PipelineConfig.from_env(_env(tmp_path))
    assert (config.bucket, config.staging_prefix, config.gcp_conn_id) == (
        "tracking_orders",
        "staging_zn/",
        "google_cloud_default",
    )
    assert config.schema_policy == "add"


def test_each_replaced_setting_is_named_in_a_note() -> None:
    notes = overridden_feed_notes(PRODUCTION | {"ORDER_TRACKING_ARCHIVE_PREFIX": "archive/"})
    assert notes == [
        "note: ORDER_TRACKING_BUCKET='acme-prod-feeds' from your shell is not used here; "
        "the local stack uses 'tracking_orders'",
        "note: ORDER_TRACKING_STAGING_PREFIX='carriers/in/' from your shell is not used here; "
        "the local stack uses 'staging_zn/'",
        "note: ORDER_TRACKING_GCP_CONN_ID='gcp_prod' from your shell is not used here; "
        "the local stack uses 'google_cloud_default'",
    ]
    assert overridden_feed_notes({}) == []


def test_the_local_run_settings_are_named_too_when_replaced(tmp_path: Path) -> None:
    shell = {"ORDER_TRACKING_SCHEDULE": "none", "ORDER_TRACKING_TABLES_ROOT": "/data/tables"}
    assert overridden_feed_notes(shell) == [
        "note: ORDER_TRACKING_SCHEDULE='none' from your shell is not used here; the local stack uses "
        "'*/1 * * * *'",
        "note: ORDER_TRACKING_TABLES_ROOT='/data/tables' from your shell is not used here; the local "
        "stack uses the stack's own warehouse folder",
    ]
    env = _env(tmp_path)
    assert env["ORDER_TRACKING_TABLES_ROOT"] == str(tmp_path / "warehouse")
    assert env["ORDER_TRACKING_SCHEDULE"] == "*/1 * * * *"


def test_a_setting_the_dag_refuses_is_found_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_TRACKING_SCHEMA_POLICY", "merge")
    assert dag_settings_problem() == (
        "the DAG would not load: ORDER_TRACKING_SCHEMA_POLICY must be one of add, rescue, fail, not 'merge'"
    )
    monkeypatch.setenv("ORDER_TRACKING_SCHEMA_POLICY", "rescue")
    monkeypatch.setenv("ORDER_TRACKING_BUCKET", "gs://prod")  # replaced by the stack's: no problem
    assert dag_settings_problem() is None
    assert dag_settings_problem({"ORDER_TRACKING_RUN_DEADLINE_SECONDS": "-1"}) is not None


def test_make_run_refuses_a_bad_setting_before_starting_the_stack(tmp_path: Path) -> None:
    shell = {name: value for name, value in os.environ.items() if not name.startswith("ORDER_TRACKING_")}
    env = {**shell, "ORDER_TRACKING_MAX_OBJECTS_PER_RUN": "0", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "local_stack.run_pipeline"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert (
        "error: the DAG would not load: ORDER_TRACKING_MAX_OBJECTS_PER_RUN must be a positive number"
        in done.stderr
    )
    assert done.stdout == ""  # nothing started, nothing dropped

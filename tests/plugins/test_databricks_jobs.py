"""The runs/submit payloads of the two Spark steps."""

from __future__ import annotations

from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import (
    CLUSTER_ID,
    STAGE_LOAD,
    WHEEL_PACKAGE,
    create_cluster_payload,
    submit_run_payload,
)


def test_payload_runs_the_wheel_entry_point_with_the_manifest() -> None:
    config = PipelineConfig.from_env({"ORDER_TRACKING_TABLES_ROOT": "/wh"})
    payload = submit_run_payload(config, STAGE_LOAD, "gs://b/_batches/x/manifest.json")
    (task,) = payload["tasks"]
    assert task["python_wheel_task"]["package_name"] == WHEEL_PACKAGE
    assert task["python_wheel_task"]["entry_point"] == "stage_load"
    params = task["python_wheel_task"]["named_parameters"]
    assert params["manifest"] == "gs://b/_batches/x/manifest.json"
    assert params["tables_root"] == "/wh"
    assert "parameters" not in task["python_wheel_task"]  # Jobs API: one of the two fields
    assert task["libraries"] == [{"whl": config.wheel_uri}]
    assert task["existing_cluster_id"] == CLUSTER_ID  # the run's one cluster, from start_cluster
    assert "new_cluster" not in task


def test_cluster_payload_names_tags_and_tokens_the_run_cluster() -> None:
    config = PipelineConfig.from_env({})
    payload = create_cluster_payload(config, "dag", "manual__1", "manual__1", "tok")
    assert payload["spark_version"] == config.cluster_spec["spark_version"]
    assert payload["idempotency_token"] == "tok"
    assert payload["cluster_name"] == "order-tracking manual__1"
    assert payload["custom_tags"]["airflow_dag"] == "dag"
    assert payload["autotermination_minutes"] > 0  # a cluster Airflow lost track of stops by itself


def test_catalog_tables_when_no_tables_root() -> None:
    payload = submit_run_payload(PipelineConfig.from_env({}), STAGE_LOAD, "m")
    assert "tables_root" not in payload["tasks"][0]["python_wheel_task"]["named_parameters"]

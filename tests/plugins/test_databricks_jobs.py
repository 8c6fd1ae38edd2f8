"""The runs/submit payloads of the two Spark steps."""

from __future__ import annotations

from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import STAGE_LOAD, WHEEL_PACKAGE, submit_run_payload


def test_payload_runs_the_wheel_entry_point_with_the_manifest() -> None:
    config = PipelineConfig.from_env({"ORDER_TRACKING_TABLES_ROOT": "/wh"})
    payload = submit_run_payload(config, STAGE_LOAD, "gs://b/_batches/x/manifest.json")
    (task,) = payload["tasks"]
    assert task["python_wheel_task"]["package_name"] == WHEEL_PACKAGE
    assert task["python_wheel_task"]["entry_point"] == "stage_load"
    params = task["python_wheel_task"]["parameters"]
    assert params[params.index("--manifest") + 1] == "gs://b/_batches/x/manifest.json"
    assert params[params.index("--tables-root") + 1] == "/wh"
    assert task["libraries"] == [{"whl": config.wheel_uri}]
    assert task["new_cluster"]["spark_version"] == config.cluster_spec["spark_version"]


def test_catalog_tables_when_no_tables_root() -> None:
    payload = submit_run_payload(PipelineConfig.from_env({}), STAGE_LOAD, "m")
    assert "--tables-root" not in payload["tasks"][0]["python_wheel_task"]["parameters"]

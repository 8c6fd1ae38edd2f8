"""The runs/submit payloads of the two Spark steps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import (
    DATABRICKS_TIMEOUT_GRACE_SECONDS,
    MERGE,
    STAGE_LOAD,
    WHEEL_PACKAGE,
    PayloadError,
    create_cluster_payload,
    gcp_label,
    needs_single_user,
    submit_run_payload,
)

CLUSTER = "0923-164208-meows279"


def test_payload_runs_the_wheel_entry_point_with_the_manifest() -> None:
    config = PipelineConfig.from_env({"ORDER_TRACKING_TABLES_ROOT": "/wh"})
    payload = submit_run_payload(config, STAGE_LOAD, "gs://b/_batches/x/manifest.json", CLUSTER)
    (task,) = payload["tasks"]
    assert task["python_wheel_task"]["package_name"] == WHEEL_PACKAGE
    assert task["python_wheel_task"]["entry_point"] == "stage_load"
    params = task["python_wheel_task"]["named_parameters"]
    assert params["manifest"] == "gs://b/_batches/x/manifest.json"
    assert params["tables_root"] == "/wh"
    assert "parameters" not in task["python_wheel_task"]  # Jobs API: one of the two fields
    assert task["libraries"] == [{"whl": config.wheel_uri}]
    assert task["existing_cluster_id"] == CLUSTER  # the run's one cluster, from start_cluster
    assert "new_cluster" not in task


def test_cluster_payload_names_tags_and_tokens_the_run_cluster() -> None:
    config = PipelineConfig.from_env({})
    payload = create_cluster_payload(
        config, "dag", "manual__1", "manual__1", "tok", single_user="me@example.test"
    )
    assert payload["spark_version"] == config.cluster_spec["spark_version"]
    assert payload["idempotency_token"] == "tok"
    assert payload["cluster_name"] == "order-tracking manual__1"
    assert payload["custom_tags"]["airflow_dag"] == "dag"
    assert payload["autotermination_minutes"] > 0  # a cluster Airflow lost track of stops by itself


def test_catalog_tables_when_no_tables_root() -> None:
    payload = submit_run_payload(PipelineConfig.from_env({}), STAGE_LOAD, "m", CLUSTER)
    assert "tables_root" not in payload["tasks"][0]["python_wheel_task"]["named_parameters"]


GCP_LABEL_VALUE = re.compile(
    r"\A[a-z0-9_-]{0,63}\Z"
)  # cloud.google.com/resource-manager/docs/creating-managing-labels


@given(st.text(max_size=300))
def test_every_tag_value_is_a_gcp_label(value: str) -> None:
    """Databricks on Google Cloud copies cluster tags to GCE/GKE labels: any batch id must fit."""
    assert GCP_LABEL_VALUE.match(gcp_label(value))


def test_the_batch_tag_is_the_batch_id_as_a_label() -> None:
    batch_id = "scheduled__2026-12-01T10_00_00.123+00_00" + "x" * 80
    payload = create_cluster_payload(
        PipelineConfig(), "Order.Tracking", "r", batch_id, "tok", single_user="me"
    )
    tags = payload["custom_tags"]
    assert tags["airflow_batch"] == "scheduled__2026-12-01t10_00_00-123-00_00xxxxxxxxxxxxxxxxxxxxxxx"
    assert tags["airflow_dag"] == "order-tracking"
    assert all(GCP_LABEL_VALUE.match(value) for value in tags.values())
    assert payload["cluster_name"] == f"order-tracking {batch_id}"[:100]


def test_databricks_ends_a_run_whose_airflow_task_is_gone_after_the_steps_timeout() -> None:
    config = PipelineConfig(step_timeout_seconds=600)
    payload = submit_run_payload(config, MERGE, "m", CLUSTER)
    assert payload["timeout_seconds"] == 600 + DATABRICKS_TIMEOUT_GRACE_SECONDS


def test_parameters_over_the_jobs_api_limit_are_refused_before_sending() -> None:
    """The Jobs API takes at most 10,000 bytes of task parameters; the longest batch id counts."""
    fits = PipelineConfig(target_table="t" * 9_000)
    assert submit_run_payload(fits, MERGE, "m", CLUSTER)
    too_long = PipelineConfig(target_table="t" * 9_800)
    with pytest.raises(PayloadError, match=r"merge step's named_parameters are \d+ bytes.*at most 10000"):
        submit_run_payload(too_long, MERGE, "m", CLUSTER)


def test_dedicated_access_names_its_owner() -> None:
    """The Clusters API wants ``single_user_name`` with SINGLE_USER: the connection's identity,
    unless the spec names one; without either the payload is refused before it is sent."""
    config = PipelineConfig()
    assert config.cluster_spec["data_security_mode"] == "SINGLE_USER"
    payload = create_cluster_payload(config, "dag", "r", "b", "tok", single_user="sp-app-id")
    assert payload["single_user_name"] == "sp-app-id"
    with pytest.raises(PayloadError, match="SINGLE_USER access but names no single_user_name"):
        create_cluster_payload(config, "dag", "r", "b", "tok")
    named = PipelineConfig(cluster_spec={**config.cluster_spec, "single_user_name": "owner@example.test"})
    assert not needs_single_user(named)
    assert create_cluster_payload(named, "dag", "r", "b", "tok")["single_user_name"] == "owner@example.test"

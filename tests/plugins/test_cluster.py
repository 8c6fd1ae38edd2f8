"""The run's one cluster: created once per DAG run even when the setup task is retried, then deleted."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from local_stack.airflow_env import databricks_connection
from local_stack.runner_client import RunnerApiError, RunnerClient
from order_tracking.cluster import delete_cluster, start_cluster
from order_tracking.config import PipelineConfig

RUN = SimpleNamespace(dag_id="dag", run_id="manual__cluster_test")
CONFIG = PipelineConfig().to_dict()  # what the DAG hands its tasks: the defaults

pytestmark = pytest.mark.spark


@pytest.fixture(autouse=True)
def _databricks_connection(databricks: RunnerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(databricks_connection(databricks.port)))


def test_a_retried_setup_finds_its_cluster_and_teardown_deletes_it(databricks: RunnerClient) -> None:
    starts = databricks.stats()["cluster_starts"]
    batch = {"batch_id": "manual__cluster_test"}
    cluster_id = start_cluster.function(batch, CONFIG, dag_run=RUN)
    assert start_cluster.function(batch, CONFIG, dag_run=RUN) == cluster_id
    assert databricks.stats()["cluster_starts"] == starts + 1
    described = databricks.get_cluster(cluster_id)
    assert described["custom_tags"]["airflow_batch"] == "manual__cluster_test"

    delete_cluster(cluster_id, CONFIG)
    with pytest.raises(RunnerApiError, match="does not exist"):
        databricks.get_cluster(cluster_id)
    # a cleared run starts over: its token was released with the deleted cluster
    fresh = start_cluster.function(batch, CONFIG, dag_run=RUN)
    assert fresh != cluster_id
    assert databricks.stats()["cluster_starts"] == starts + 2
    delete_cluster(fresh, CONFIG)  # leave no cluster running for later tests

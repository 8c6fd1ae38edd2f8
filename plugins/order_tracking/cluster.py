"""The run's one Databricks cluster: created before the stage-load step, deleted after the merge.

Both Spark steps run on it (``existing_cluster_id``), so a DAG run starts one cluster instead of
one per step, and each step stays an independently retriable ``runs/submit``. The create request
carries an idempotency token, so a retried setup task finds the cluster it already created. The
teardown deletes the cluster whether the steps succeeded or not; ``autotermination_minutes`` in
the cluster spec stops one that Airflow lost track of.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook

from order_tracking.compat import setup, teardown
from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import create_cluster_payload, needs_single_user
from order_tracking.idempotency import step_token

log = logging.getLogger(__name__)
CREATE_CLUSTER = ("POST", "2.1/clusters/create")
PERMANENT_DELETE_CLUSTER = ("POST", "2.1/clusters/permanent-delete")
CURRENT_USER = (
    "GET",
    "2.0/preview/scim/v2/Me",
)  # SCIM Me: userName (an application id for a service principal)


@setup
def start_cluster(batch: dict[str, Any], pipeline_config: Mapping[str, Any], dag_run: Any = None) -> str:
    """Create (or find again, on a retry) the run's cluster and return its id; it starts in the background.

    ``batch`` is ``cut_batch``'s summary, ``pipeline_config`` the DAG's ``PipelineConfig.to_dict()``.
    The id is what the Spark steps run on (their ``existing_cluster_id``) and what ``stop_cluster``
    deletes.
    """
    assert dag_run is not None, "Airflow passes the DAG run from the task context"
    dag_id, run_id = dag_run.dag_id, dag_run.run_id
    config = PipelineConfig.from_dict(pipeline_config)
    token = step_token(dag_id, run_id, "cluster")
    hook = DatabricksHook(config.databricks_conn_id)
    # Dedicated access needs the owner named: the identity the connection's token belongs to.
    single_user = hook._do_api_call(CURRENT_USER, {})["userName"] if needs_single_user(config) else None
    payload = create_cluster_payload(
        config, dag_id, run_id, batch["batch_id"], token, single_user=single_user
    )
    response = hook._do_api_call(CREATE_CLUSTER, payload)
    cluster_id = str(response["cluster_id"])
    log.info("batch %s runs on cluster %s (%s)", batch["batch_id"], cluster_id, payload["cluster_name"])
    return cluster_id


def delete_cluster(cluster_id: str, pipeline_config: Mapping[str, Any]) -> None:
    """Delete the run's cluster, whatever became of the steps that ran on it (``stop_cluster``'s work)."""
    config = PipelineConfig.from_dict(pipeline_config)
    DatabricksHook(config.databricks_conn_id)._do_api_call(
        PERMANENT_DELETE_CLUSTER, {"cluster_id": cluster_id}
    )
    log.info("deleted cluster %s", cluster_id)


def stop_cluster(cluster_id: Any, pipeline_config: Any) -> Any:
    """The teardown task ``stop_cluster``, running :func:`delete_cluster`; returns its XComArg.

    A fresh ``@teardown`` each call: Airflow's teardown decorator sets its trigger rule on its first
    call and refuses any later one ("Trigger rule not configurable for teardown tasks",
    ``_TaskDecorator.__call__``), so one decorated object shared by every parse of the DAG file in
    a process (``airflow dags test`` parses it twice) failed the second parse.
    """
    return teardown(delete_cluster).override(task_id="stop_cluster")(cluster_id, pipeline_config)

"""Jobs API runs for tests against the local runner: a wheel task to submit, a wait for its end."""

from __future__ import annotations

from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook, RunState

from local_stack.polling import PollTimeoutError, poll
from order_tracking.databricks_jobs import WHEEL_PACKAGE

# A small DBR 17.3 LTS job cluster: what a task needs when it names no existing cluster.
NEW_CLUSTER: dict[str, Any] = {
    "spark_version": "17.3.x-scala2.13",
    "node_type_id": "n2-highmem-4",
    "num_workers": 1,
}


def wheel_run(
    entry_point: str,
    *parameters: str,
    new_cluster: dict[str, Any] | None = None,
    existing_cluster_id: str | None = None,
    **payload_fields: Any,
) -> dict[str, Any]:
    """A one-task ``runs/submit`` payload running one of our wheel's entry points with positional
    ``parameters``, on ``existing_cluster_id`` or else on a new cluster (:data:`NEW_CLUSTER` by default):
    the Jobs API wants one compute per task."""
    wheel: dict[str, Any] = {"package_name": WHEEL_PACKAGE, "entry_point": entry_point}
    if parameters:
        wheel["parameters"] = list(parameters)
    task: dict[str, Any] = {"task_key": entry_point, "python_wheel_task": wheel}
    if existing_cluster_id is not None:
        task["existing_cluster_id"] = existing_cluster_id
    else:
        task["new_cluster"] = new_cluster or NEW_CLUSTER
    return {"run_name": "test", "tasks": [task], **payload_fields}


def wait_terminal(hook: DatabricksHook, run_id: int, seconds: float = 120) -> RunState:
    """The run's state once it has ended; fails the test if it has not ended in ``seconds``."""
    try:
        return poll(
            lambda: hook.get_run_state(run_id),
            until=lambda state: state.is_terminal,
            timeout=seconds,
            interval=0.1,
            what=f"run {run_id} to end",
        )
    except PollTimeoutError as error:
        raise AssertionError(str(error)) from None

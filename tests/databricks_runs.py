"""Jobs API runs for tests against the local runner: a wheel task to submit, a wait for its end."""

from __future__ import annotations

import time
from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook, RunState

from order_tracking.databricks_jobs import WHEEL_PACKAGE


def wheel_run(
    entry_point: str, *parameters: str, new_cluster: dict[str, Any] | None = None, **payload_fields: Any
) -> dict[str, Any]:
    """A one-task ``runs/submit`` payload running one of our wheel's entry points."""
    wheel = {"package_name": WHEEL_PACKAGE, "entry_point": entry_point, "parameters": list(parameters)}
    task: dict[str, Any] = {"task_key": entry_point, "python_wheel_task": wheel}
    if new_cluster is not None:
        task["new_cluster"] = new_cluster
    return {"run_name": "test", "tasks": [task], **payload_fields}


def wait_terminal(hook: DatabricksHook, run_id: int, seconds: float = 120) -> RunState:
    """The run's state once it has ended; fails the test if it has not ended in ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = hook.get_run_state(run_id)
        if state.is_terminal:
            return state
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {seconds}s")

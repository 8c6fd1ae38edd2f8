"""The local runner speaks the Jobs API the way the Databricks provider's hook expects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.databricks.hooks.databricks import DatabricksHook

from local_stack.airflow_env import LOCAL_TOKEN, databricks_connection
from local_stack.databricks_runner import RunnerServer
from tests.databricks_runs import wait_terminal, wheel_run

pytestmark = pytest.mark.spark

NEW_CLUSTER = {"spark_version": "17.3.x-scala2.13"}


def _hook(port: int, token: str, monkeypatch: pytest.MonkeyPatch) -> DatabricksHook:
    """A provider hook on an Airflow connection (from the environment) to the local runner."""
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_RUNNER", json.dumps(databricks_connection(port, token)))
    return DatabricksHook("local_runner", retry_limit=1, retry_delay=0.1)


@pytest.fixture
def hook(databricks: RunnerServer, monkeypatch: pytest.MonkeyPatch) -> DatabricksHook:
    return _hook(databricks.port, LOCAL_TOKEN, monkeypatch)


def _wheel_run(entry_point: str, *parameters: str, **payload_fields: Any) -> dict[str, Any]:
    return wheel_run(entry_point, *parameters, new_cluster=NEW_CLUSTER, **payload_fields)


def test_a_failing_task_reports_its_error_like_databricks(hook: DatabricksHook) -> None:
    missing = "gs://tracking_orders/_batches/missing/manifest.json"
    run_id = hook.submit_run(_wheel_run("merge", "--manifest", missing))
    state = wait_terminal(hook, run_id)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "FAILED")
    assert "Task merge failed" in state.state_message
    task_run = hook.get_run(run_id)["tasks"][0]
    output = hook.get_run_output(task_run["run_id"])
    assert "missing/manifest.json" in output["error"]
    assert "Traceback" in output["error_trace"]


def test_an_unknown_entry_point_fails_the_run(hook: DatabricksHook) -> None:
    run_id = hook.submit_run(_wheel_run("no_such_job"))
    assert wait_terminal(hook, run_id).result_state == "FAILED"
    task_run = hook.get_run(run_id)["tasks"][0]
    assert "has no entry point 'no_such_job'" in hook.get_run_output(task_run["run_id"])["error"]


def test_an_idempotency_token_never_starts_a_second_run(hook: DatabricksHook) -> None:
    payload = _wheel_run("no_such_job", idempotency_token="run-42-stage")
    first, second = hook.submit_run(payload), hook.submit_run(payload)
    assert first == second
    wait_terminal(hook, first)


def test_a_submission_without_tasks_is_rejected(hook: DatabricksHook) -> None:
    with pytest.raises(Exception, match=r"INVALID_PARAMETER_VALUE|at least one task"):
        hook.submit_run({"run_name": "empty", "tasks": []})


def test_a_wrong_token_is_refused(databricks: RunnerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Exception, match=r"401|UNAUTHENTICATED|Invalid access token"):
        _hook(databricks.port, "wrong", monkeypatch).submit_run(_wheel_run("merge"))


def test_a_wheel_task_with_both_parameter_fields_is_refused(hook: DatabricksHook) -> None:
    """Jobs API 2.2: a python_wheel_task takes ``parameters`` or ``named_parameters``, not both."""
    payload = _wheel_run("merge", "--manifest", "gs://b/m.json")
    payload["tasks"][0]["python_wheel_task"]["named_parameters"] = {"manifest": "gs://b/m.json"}
    with pytest.raises(AirflowException, match=r"INVALID_PARAMETER_VALUE.*not both"):
        hook.submit_run(payload)

"""Idempotent submissions, at the wire: a lost answer, a live run and a failed run of a step."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators.databricks import XCOM_RUN_ID_KEY
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import TaskDeferralTimeout, TaskDeferred

from local_stack.airflow_env import databricks_connection
from local_stack.runner_client import RunnerClient
from order_tracking.databricks_submit import IdempotentDatabricksHook, IdempotentSubmitRunOperator
from order_tracking.idempotency import step_token
from tests.databricks_runs import wait_terminal, wheel_run

pytestmark = pytest.mark.spark


@pytest.fixture
def hook_for(databricks: RunnerClient, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_RUNNER", json.dumps(databricks_connection(databricks.port)))

    def make(run_id: str, step: str) -> IdempotentDatabricksHook:
        return IdempotentDatabricksHook(
            "local_runner", retry_limit=3, retry_delay=0.1, token_key=("dag", run_id, step)
        )

    return make


def _help_run(entry_point: str) -> dict[str, Any]:
    """A real wheel task that does no Spark work (``--help`` exits 0)."""
    return wheel_run(entry_point, "--help")


def test_a_lost_submit_answer_is_retried_without_a_second_run(
    databricks: RunnerClient, hook_for: Any
) -> None:
    before = len(databricks.runs_of("stage_load"))
    databricks.add_faults(http={"runs/submit": 1})  # the run is created, the answer is a 503
    hook = hook_for("manual__lost_answer", "stage_load")
    run_id = hook.submit_run(_help_run("stage_load"))
    assert wait_terminal(hook, run_id).is_successful
    assert len(databricks.runs_of("stage_load")) == before + 1
    assert databricks.runs_of("stage_load")[-1]["run_id"] == run_id


def test_a_retried_task_reconnects_to_its_run(databricks: RunnerClient, hook_for: Any) -> None:
    before = len(databricks.runs_of("merge"))
    first = hook_for("manual__reconnect", "merge").submit_run(_help_run("merge"))
    again = hook_for("manual__reconnect", "merge").submit_run(_help_run("merge"))  # a new try, a new hook
    assert again == first
    wait_terminal(hook_for("manual__reconnect", "merge"), first)
    assert hook_for("manual__reconnect", "merge").submit_run(_help_run("merge")) == first  # succeeded: kept
    assert len(databricks.runs_of("merge")) == before + 1


def test_a_failed_run_is_followed_by_a_fresh_one(databricks: RunnerClient, hook_for: Any) -> None:
    databricks.add_faults(tasks={"merge": 1})
    plain = hook_for("manual__fresh_start", "merge")
    earlier_try = {
        **_help_run("merge"),
        "idempotency_token": step_token("dag", "manual__fresh_start", "merge"),
    }
    failed = DatabricksHook.submit_run(plain, earlier_try)  # what the failed try submitted
    assert wait_terminal(plain, failed).result_state == "FAILED"
    fresh = hook_for("manual__fresh_start", "merge").submit_run(_help_run("merge"))
    assert fresh != failed
    assert wait_terminal(plain, fresh).is_successful
    assert hook_for("manual__fresh_start", "merge").submit_run(_help_run("merge")) == fresh


def _operator(execution_timeout: timedelta) -> IdempotentSubmitRunOperator:
    return IdempotentSubmitRunOperator(
        task_id="merge",
        databricks_conn_id="local_runner",
        json=_help_run("merge"),
        deferrable=True,
        execution_timeout=execution_timeout,
    )


def test_a_deferred_step_is_bounded_by_its_execution_timeout() -> None:
    """Airflow 3.3 gives a deferral no timeout of its own; the operator passes execution_timeout."""
    operator = _operator(timedelta(minutes=7))
    with pytest.raises(TaskDeferred) as deferred:
        operator.defer(trigger=TimeDeltaTrigger(timedelta(hours=1)), method_name="execute_complete")
    assert deferred.value.timeout == timedelta(minutes=7)


class _TaskInstance:
    """The one thing ``resume_execution`` asks of the task instance: the run id the try pushed."""

    def __init__(self, databricks_run: int) -> None:
        self.databricks_run = databricks_run

    def xcom_pull(self, task_ids: str, key: str) -> int:
        assert (task_ids, key) == ("merge", XCOM_RUN_ID_KEY)
        return self.databricks_run


def test_a_step_resumed_by_its_timeout_cancels_its_databricks_run(
    databricks: RunnerClient, hook_for: Any
) -> None:
    faults = f"http://127.0.0.1:{databricks.port}/local/faults"
    httpx.post(faults, json={"delays": {"merge": 600}}).raise_for_status()  # a Spark job that runs on
    hook = hook_for("manual__timed_out", "merge")
    databricks_run = hook.submit_run(_help_run("merge"))
    deadline = time.monotonic() + 60
    while hook.get_run_state(databricks_run).life_cycle_state != "RUNNING":
        assert time.monotonic() < deadline, "the slow run never started"
        time.sleep(0.2)
    operator = _operator(timedelta(seconds=5))

    with pytest.raises(TaskDeferralTimeout):
        operator.resume_execution(
            TRIGGER_FAIL_REPR,
            {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
            {"ti": _TaskInstance(databricks_run)},
        )

    state = wait_terminal(hook, databricks_run, seconds=60)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "CANCELED")
    assert httpx.get(f"http://127.0.0.1:{databricks.port}/local/stats").json()["spark_jobs_active"] == 0

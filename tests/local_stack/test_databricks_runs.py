"""Run states as Databricks reports them, and a task thread that a cancel really stops (no Spark)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from databricks.sdk.service import jobs

from local_stack.databricks_runs import (
    WORKLOAD_FAILED_MESSAGE,
    Code,
    Life,
    Result,
    Run,
    TaskInterrupted,
    TaskRun,
    TaskThread,
    cluster_terminated_message,
)

SPEC = jobs.SubmitTask(task_key="merge", python_wheel_task=jobs.PythonWheelTask("pkg", "merge"))


def _run(*tasks: TaskRun) -> Run:
    return Run(1, "r", list(tasks) or [TaskRun(2, SPEC)])


def _thread() -> TaskThread:
    return TaskThread(lambda: None, "t")


def test_a_run_goes_pending_running_terminating_then_cancelled() -> None:
    run = _run()
    (task,) = run.tasks
    assert (run.state()["life_cycle_state"], run.status()) == ("PENDING", {"state": "PENDING"})
    task.begin(_thread())
    assert (run.state()["life_cycle_state"], run.status()) == ("RUNNING", {"state": "RUNNING"})

    run.stop_reason = Result.CANCELED
    task.stopping(Result.CANCELED, grace_seconds=60)
    terminating = {
        "life_cycle_state": "TERMINATING",
        "state_message": "Run cancelled.",
        "user_cancelled_or_timedout": True,  # as soon as the cancel is asked for, as status says
    }
    assert run.state() == terminating
    assert task.state() == terminating
    cancelling = {"code": "USER_CANCELED", "message": "Run cancelled.", "type": "SUCCESS"}
    assert run.status() == {"state": "TERMINATING", "termination_details": cancelling}
    assert task.status() == {"state": "TERMINATING", "termination_details": cancelling}

    task.finish(Result.CANCELED, "Run cancelled.")
    assert run.state() == {
        "life_cycle_state": "TERMINATED",
        "result_state": "CANCELED",
        "state_message": "Run cancelled.",
        "user_cancelled_or_timedout": True,
    }
    assert run.status() == {"state": "TERMINATED", "termination_details": cancelling}


def _ended(result: Result, *, stop: Result | None = None, life: Life = Life.TERMINATED) -> Run:
    task = TaskRun(2, SPEC, error="ValueError: boom")
    task.finish(result, WORKLOAD_FAILED_MESSAGE, life)
    run = _run(task)
    run.stop_reason = stop
    return run


@pytest.mark.parametrize(
    ("run", "state", "termination"),
    [
        (_ended(Result.SUCCESS), ("TERMINATED", "SUCCESS", "", False), ("SUCCESS", "SUCCESS")),
        (
            _ended(Result.FAILED),  # the error itself is only in runs/get-output, as on Databricks
            (
                "TERMINATED",
                "FAILED",
                "Task merge failed with message: Workload failed, see run output for details. "
                "This caused all downstream tasks to get skipped.",
                False,
            ),
            ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        ),
        (
            _ended(Result.TIMEDOUT, stop=Result.TIMEDOUT),
            ("TERMINATED", "TIMEDOUT", "Run timed out.", True),
            ("CANCELED", "CLIENT_ERROR"),
        ),
        (
            _ended(Result.TIMEDOUT),
            ("TERMINATED", "TIMEDOUT", "Task merge timed out.", True),
            ("CANCELED", "CLIENT_ERROR"),
        ),
    ],
    ids=["success", "failed", "run-timeout", "task-timeout"],
)
def test_an_ended_run_reports_state_and_status(
    run: Run, state: tuple[str, str, str, bool], termination: tuple[str, str]
) -> None:
    life, result, message, stopped = state
    reported = run.state()
    assert (reported["life_cycle_state"], reported["result_state"]) == (life, result)
    assert reported["state_message"].startswith(message)
    assert reported["user_cancelled_or_timedout"] is stopped
    status = run.status()
    assert status["state"] == "TERMINATED"
    details = status["termination_details"]
    assert (details["code"], details["type"]) == termination
    assert details["message"] == reported["state_message"]


def test_a_run_whose_cluster_is_terminated_is_an_internal_error() -> None:
    task = TaskRun(2, SPEC)
    run = _run(task)
    task.begin(_thread())
    message = cluster_terminated_message("0923-x")
    task.stopping(Result.FAILED, 60, message, Life.INTERNAL_ERROR, Code.CLUSTER_ERROR)
    assert task.state()["user_cancelled_or_timedout"] is False  # nobody cancelled it
    assert task.status()["termination_details"]["code"] == "CLUSTER_ERROR"
    assert run.state()["life_cycle_state"] == "RUNNING"  # until the task's code has stopped

    task.stopped()
    assert run.state() == {
        "life_cycle_state": "INTERNAL_ERROR",
        "result_state": "FAILED",
        "state_message": "Cluster 0923-x was terminated during the run.",
        "user_cancelled_or_timedout": False,
    }
    assert run.status() == {
        "state": "TERMINATED",
        "termination_details": {"code": "CLUSTER_ERROR", "message": message, "type": "CLIENT_ERROR"},
    }
    assert task.error == message  # runs/get-output's error


def test_skipped_tasks_say_why() -> None:
    task = TaskRun(3, SPEC)
    task.skip(Result.UPSTREAM_FAILED, "An upstream task failed.")
    assert task.state() == {
        "life_cycle_state": "SKIPPED",
        "result_state": "UPSTREAM_FAILED",
        "state_message": "An upstream task failed.",
        "user_cancelled_or_timedout": False,
    }
    assert task.status()["termination_details"]["code"] == "SKIPPED"


def test_a_task_run_shows_its_settings_and_state() -> None:
    described = TaskRun(7, SPEC).describe("http://x/#job/0/run/7")
    assert described["task_key"] == "merge"
    assert described["python_wheel_task"] == {"package_name": "pkg", "entry_point": "merge"}
    assert (described["run_id"], described["state"]["life_cycle_state"]) == (7, "PENDING")
    assert jobs.RunTask.from_dict(described).status == jobs.RunStatus(
        state=jobs.RunLifecycleStateV2State.PENDING
    )


# --- the task thread ------------------------------------------------------------------------------


def _looping(started: threading.Event, seconds: float = 30) -> Any:
    def work() -> None:
        started.set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # Python code that no Spark cancel would stop
            time.sleep(0.01)

    return work


def test_an_interrupt_stops_python_code_that_runs_on() -> None:
    started = threading.Event()
    thread = TaskThread(_looping(started), "looping")
    thread.start()
    assert started.wait(5)
    began = time.monotonic()
    thread.interrupt()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - began < 2
    assert isinstance(thread.error, TaskInterrupted)
    assert "TaskInterrupted" in thread.error_trace


def test_an_interrupt_before_the_start_stops_the_task_at_once() -> None:
    ran = threading.Event()
    thread = TaskThread(ran.set, "early")
    thread.interrupt()
    thread.start()
    thread.join(5)
    assert not ran.is_set()
    assert isinstance(thread.error, TaskInterrupted)


def test_an_interrupt_after_the_task_returned_changes_nothing() -> None:
    thread = _thread()
    thread.start()
    thread.join(5)
    thread.interrupt()
    time.sleep(0.1)
    assert thread.error is None


def test_a_task_failure_is_kept_with_its_traceback() -> None:
    def fail() -> None:
        raise ValueError("boom")

    thread = TaskThread(fail, "failing")
    thread.start()
    thread.join(5)
    assert isinstance(thread.error, ValueError)
    assert "Traceback" in thread.error_trace

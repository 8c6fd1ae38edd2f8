"""Runs of the local Databricks runner: their states as the Jobs API reports them, and the thread a
task's code runs in, which a cancel really stops.

States are built from the SDK's own types (``jobs.RunState``, ``jobs.RunStatus``). What a run
reports, as a Databricks run does (``state`` is deprecated in Jobs API 2.2 in favour of ``status``,
both are sent):

========================  ============================  ===========================================
run                       ``state``                     ``status`` (termination code / type)
========================  ============================  ===========================================
waiting to start          PENDING                       PENDING
a task running            RUNNING                       RUNNING
cancel / timeout pending  TERMINATING (+ cancelled)     TERMINATING, USER_CANCELED or CANCELED
succeeded                 TERMINATED, SUCCESS           TERMINATED, SUCCESS / SUCCESS
a task failed             TERMINATED, FAILED            TERMINATED, RUN_EXECUTION_ERROR / CLIENT_ERROR
``runs/cancel``           TERMINATED, CANCELED          TERMINATED, USER_CANCELED / SUCCESS
``timeout_seconds``       TERMINATED, TIMEDOUT          TERMINATED, CANCELED / CLIENT_ERROR
cluster gone              INTERNAL_ERROR, FAILED        TERMINATED, RESOURCE_NOT_FOUND / CLIENT_ERROR
cluster deleted in a run  INTERNAL_ERROR, FAILED        TERMINATED, CLUSTER_ERROR / CLIENT_ERROR
========================  ============================  ===========================================

``user_cancelled_or_timedout`` is true from the moment a cancel or timeout is asked for (while the
run is still ``TERMINATING``), as its ``status`` already says ``USER_CANCELED`` / ``CANCELED``. A
failed run's ``state_message`` is Databricks' generic "Task <key> failed with message: Workload
failed, see run output for details. This caused all downstream tasks to get skipped." (as a
workspace words it, quoted in dagster-io/dagster issue 19715); the exception and its traceback are
only in ``runs/get-output`` (``error``, ``error_trace``), which is where the provider reads them
(``extract_failed_task_errors``).

Sources: a cancelled run's ``state`` as a GCP workspace returned it ("Run cancelled.",
``user_cancelled_or_timedout: true``; flyteorg/flytekit PR 1935); the termination codes' meanings
in the SDK's ``jobs.TerminationCodeCode`` ("USER_CANCELED: ... canceled during execution by a
user", "CANCELED: ... by the Databricks platform; for example, if the maximum run duration was
exceeded", "RUN_EXECUTION_ERROR: ... completed with task failures"); "An upstream task failed." for
a skipped task and the missing-cluster message from Databricks responses quoted in the Jobs API
reference and polar-rams/databricks-sdk-golang issue 6 (a scheduled job's run there: that
``runs/submit`` also takes an unknown ``existing_cluster_id`` and fails the run this way is our
assumption). The termination *types* of cancelled and timed-out runs, "Run timed out." and the
messages of skipped tasks other than "An upstream task failed." are our assumptions too.

A run whose cluster is terminated or deleted under it (``clusters/delete``,
``clusters/permanent-delete``) ends as Databricks ends a run that lost its compute: the task
``INTERNAL_ERROR`` / ``FAILED`` with the SDK's ``CLUSTER_ERROR`` termination code ("The run failed
due to a cluster error. Refer to the state message for further details"). The message, "Cluster
<id> was terminated during the run.", is our assumption: we found no public copy of the words a
workspace uses.
"""

from __future__ import annotations

import ctypes
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from databricks.sdk.service import jobs

Life = jobs.RunLifeCycleState
Result = jobs.RunResultState
Code = jobs.TerminationCodeCode
Kind = jobs.TerminationTypeType
DONE = (Life.TERMINATED, Life.SKIPPED, Life.INTERNAL_ERROR)

CANCELLED_MESSAGE = "Run cancelled."
TIMED_OUT_MESSAGE = "Run timed out."
UPSTREAM_FAILED_MESSAGE = "An upstream task failed."
WORKLOAD_FAILED_MESSAGE = "Workload failed, see run output for details"
STOPPED = (Result.CANCELED, Result.TIMEDOUT)  # the results ``user_cancelled_or_timedout`` reports
# Why a run ended -> the termination code and type its status reports.
TERMINATION: dict[Result, tuple[Code, Kind]] = {
    Result.SUCCESS: (Code.SUCCESS, Kind.SUCCESS),
    Result.FAILED: (Code.RUN_EXECUTION_ERROR, Kind.CLIENT_ERROR),
    Result.CANCELED: (Code.USER_CANCELED, Kind.SUCCESS),
    Result.TIMEDOUT: (Code.CANCELED, Kind.CLIENT_ERROR),
    Result.UPSTREAM_FAILED: (Code.SKIPPED, Kind.SUCCESS),
    Result.UPSTREAM_CANCELED: (Code.SKIPPED, Kind.SUCCESS),
}
STOP_MESSAGES = {Result.CANCELED: CANCELLED_MESSAGE, Result.TIMEDOUT: TIMED_OUT_MESSAGE}


def now_ms() -> int:
    return int(time.time() * 1000)


def cluster_terminated_message(cluster_id: str) -> str:
    """A task whose cluster was terminated or deleted while it ran (see the module docstring)."""
    return f"Cluster {cluster_id} was terminated during the run."


def _state(life: Life, result: Result | None, message: str, stopping: Result | None = None) -> dict[str, Any]:
    """``stopping``: why a ``TERMINATING`` run is stopping (it has no result yet)."""
    stopped = (result or stopping) in STOPPED
    state = jobs.RunState(life, None, result, message, user_cancelled_or_timedout=stopped)
    return state.as_dict()


def _status(life: Life, result: Result | None, message: str, code: Code | None = None) -> dict[str, Any]:
    if life is Life.PENDING or life is Life.RUNNING:
        return jobs.RunStatus(state=jobs.RunLifecycleStateV2State(life.value)).as_dict()
    state = jobs.RunLifecycleStateV2State.TERMINATING if life is Life.TERMINATING else None
    kind = Kind.CLIENT_ERROR
    if result is not None:
        default_code, kind = TERMINATION.get(result, (Code.RUN_EXECUTION_ERROR, Kind.CLIENT_ERROR))
        code = code or default_code
    details = jobs.TerminationDetails(code=code, message=message, type=kind)
    return jobs.RunStatus(
        state=state or jobs.RunLifecycleStateV2State.TERMINATED, termination_details=details
    ).as_dict()


class TaskInterrupted(BaseException):
    """Raised asynchronously in a task's thread when its run is cancelled or times out, as a
    Databricks cluster stops a cancelled run's driver code."""


class TaskThread(threading.Thread):
    """The thread one task's code runs in; :meth:`interrupt` raises :class:`TaskInterrupted` in it.

    A Python exception can only be raised in another thread between two bytecodes, so code blocked
    in a Spark action first needs that action cancelled (the runner cancels the task's job group).
    An interrupted thread may leave its Py4J connection mid-command: each task therefore gets a
    fresh thread (and pinned JVM thread), never reused. The exception is raised at most once and
    never after the task's code has returned.
    """

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self._lock = threading.Lock()
        self._working = False  # inside ``target``: the only time an exception may be raised in it
        self._interrupted = False
        self.error: BaseException | None = None
        self.error_trace = ""

    def run(self) -> None:
        try:
            try:
                with self._lock:
                    if self._interrupted:  # stopped before it started
                        raise TaskInterrupted
                    self._working = True
                self._work()
            finally:
                with self._lock:
                    if self._working and self._interrupted:  # raised, maybe not delivered: withdraw it
                        _raise_in(self.ident, None)
                    self._working = False
        except BaseException as err:  # the task's failure (or interruption) is data to report
            self.error, self.error_trace = err, traceback.format_exc()

    def interrupt(self) -> None:
        with self._lock:
            if self._interrupted:
                return
            self._interrupted = True
            if self._working:
                _raise_in(self.ident, TaskInterrupted)


def _raise_in(thread_id: int | None, exception: type[BaseException] | None) -> None:
    if thread_id is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
        )


@dataclass
class TaskRun:
    """One task of a run; ``spec`` is the task as submitted."""

    run_id: int
    spec: jobs.SubmitTask
    life: Life = Life.PENDING
    result: Result | None = None
    message: str = ""
    code: Code | None = None  # a termination code other than the result's usual one
    error: str | None = None
    error_trace: str | None = None
    start_time: int = 0
    end_time: int = 0
    stop_reason: Result | None = None  # CANCELED / TIMEDOUT (or FAILED: cluster gone) once stopping
    stop_message: str = ""  # the message the stopped task ends with
    stop_life: Life = Life.TERMINATED  # the life cycle state the stopped task ends in
    stop_code: Code | None = None  # the termination code it ends with, if not the result's usual one
    stop_deadline: float | None = None  # monotonic time after which a stopping task is abandoned
    thread: TaskThread | None = None

    @property
    def task_key(self) -> str:
        return self.spec.task_key

    @property
    def job_group(self) -> str:
        """The Spark job group of this task run's jobs (unique: cancelled groups are remembered)."""
        return f"local-databricks-task-run-{self.run_id}"

    @property
    def done(self) -> bool:
        return self.life in DONE

    def begin(self, thread: TaskThread) -> None:
        self.life, self.start_time, self.thread = Life.RUNNING, now_ms(), thread

    def stopping(
        self,
        reason: Result,
        grace_seconds: float,
        message: str | None = None,
        life: Life = Life.TERMINATED,
        code: Code | None = None,
    ) -> None:
        """Stop the running task: it ends ``life`` / ``reason`` with ``message`` (by default the
        message of a cancel or timeout) once its code has returned."""
        self.life, self.stop_reason = Life.TERMINATING, reason
        self.stop_message = STOP_MESSAGES.get(reason, "") if message is None else message
        self.stop_life, self.stop_code = life, code
        self.stop_deadline = time.monotonic() + grace_seconds

    def stopped(self) -> None:
        """The stopping task's code has returned (or was abandoned): end it as :meth:`stopping` said."""
        assert self.stop_reason is not None
        if self.stop_code is not None:
            self.code = self.stop_code
        if self.stop_life is Life.INTERNAL_ERROR:
            self.error = self.stop_message
        self.finish(self.stop_reason, self.stop_message, self.stop_life)

    def break_off(self, message: str, code: Code) -> None:
        """End the task ``INTERNAL_ERROR`` / ``FAILED`` without running it (its cluster is gone)."""
        self.code, self.error = code, message
        self.finish(Result.FAILED, message, Life.INTERNAL_ERROR)

    def finish(self, result: Result, message: str = "", life: Life = Life.TERMINATED) -> None:
        self.life, self.result, self.message, self.end_time = life, result, message, now_ms()

    def skip(self, result: Result, message: str) -> None:
        self.code = Code.SKIPPED
        self.finish(result, message, Life.SKIPPED)

    def state(self) -> dict[str, Any]:
        return _state(self.life, self.result, self.message or self.stop_message, self.stop_reason)

    def status(self) -> dict[str, Any]:
        result = self.result or self.stop_reason
        message = self.message or self.stop_message
        return _status(self.life, result, message, self.code or self.stop_code)

    def describe(self, page_url: str) -> dict[str, Any]:
        """The task run as ``runs/get`` shows it: its settings, ids, state and status."""
        return self.spec.as_dict() | {
            "run_id": self.run_id,
            "state": self.state(),
            "status": self.status(),
            "attempt_number": 0,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "run_page_url": page_url,
        }


@dataclass
class Run:
    """A submitted run: its tasks in execution order (each after those it depends on)."""

    run_id: int
    run_name: str
    tasks: list[TaskRun]
    timeout_seconds: int = 0
    start_time: int = field(default_factory=now_ms)
    end_time: int = 0
    stop_reason: Result | None = None

    @property
    def done(self) -> bool:
        return all(task.done for task in self.tasks)

    def task(self, key: str) -> TaskRun:
        return next(task for task in self.tasks if task.task_key == key)

    def _outcome(self) -> tuple[Life, Result | None, str, Code | None]:
        if self.done:
            return self._ending()
        if self.stop_reason is not None:
            return Life.TERMINATING, None, STOP_MESSAGES[self.stop_reason], None
        started = any(task.life is not Life.PENDING for task in self.tasks)
        return (Life.RUNNING if started else Life.PENDING), None, "", None

    def _ending(self) -> tuple[Life, Result, str, Code | None]:
        if self.stop_reason is not None:
            return Life.TERMINATED, self.stop_reason, STOP_MESSAGES[self.stop_reason], None
        broken = [task for task in self.tasks if task.life is Life.INTERNAL_ERROR]
        if broken:
            return Life.INTERNAL_ERROR, Result.FAILED, broken[0].message, broken[0].code
        failed = [task for task in self.tasks if task.result is Result.FAILED]
        if failed:  # the error itself is in the task run's output only, as on Databricks
            message = (
                f"Task {failed[0].task_key} failed with message: {failed[0].message}. "
                "This caused all downstream tasks to get skipped."
            )
            return Life.TERMINATED, Result.FAILED, message, None
        timed_out = [task for task in self.tasks if task.result is Result.TIMEDOUT]
        if timed_out:
            return Life.TERMINATED, Result.TIMEDOUT, f"Task {timed_out[0].task_key} timed out.", None
        return Life.TERMINATED, Result.SUCCESS, "", None

    def state(self) -> dict[str, Any]:
        life, result, message, _ = self._outcome()
        return _state(life, result, message, self.stop_reason)

    def status(self) -> dict[str, Any]:
        life, result, message, code = self._outcome()
        if life is Life.TERMINATING:
            result = self.stop_reason
        return _status(life, result, message, code)

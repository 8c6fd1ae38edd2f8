"""The runner's "cluster" lifecycle without a JVM: a session factory that blocks until the test lets
it go (a cold start that takes as long as the test wants), and a fake SparkSession whose one kind of
Spark job runs until its job group is cancelled, as a real one does under the delay fault.

What it shows: the session is only ever created in the runner's executor, once, even when a cancel
or a cluster deletion comes in the middle of creating it; a cancelled run is marked at once and its
task never starts; deleting a cluster ends the runs on it; a run is ``TERMINATING`` with
``user_cancelled_or_timedout`` from the cancel on; shutdown stops only a session the runner started.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local_stack.airflow_env import free_port
from local_stack.databricks_api import ApiError, parse_create_cluster, parse_submit_run
from local_stack.databricks_runner import LOCAL_USER, LocalDatabricks, RunnerServer, _timer
from tests.databricks_runs import NEW_CLUSTER, wheel_run

WAIT = 30.0
CLUSTER = NEW_CLUSTER | {"data_security_mode": "SINGLE_USER", "single_user_name": LOCAL_USER["userName"]}


class FakeSparkContext:
    """What the runner and a delay-fault task call on a SparkContext, with jobs that end only when
    their group is cancelled (``cancel_gate`` cleared holds a cancel until the test sets it)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._changed = threading.Condition()
        self._cancelled: set[str] = set()
        self._jobs: dict[int, str] = {}  # running job -> its group
        self._ids = itertools.count()
        self.cancel_gate = threading.Event()
        self.cancel_gate.set()
        self.cancel_asked = threading.Event()
        self._jsc = self  # the runner cancels through sparkContext._jsc.sc()

    def sc(self) -> FakeSparkContext:
        return self

    def setJobGroup(self, group: str, description: str, interruptOnCancel: bool = False) -> None:  # noqa: N802, N803
        self._local.group = group

    def parallelize(self, data: list[Any], slices: int) -> Any:
        context = self

        class Rdd:
            def foreach(self, function: Any) -> None:
                context.run_job()

        return Rdd()

    def run_job(self) -> None:
        group = self._local.group
        with self._changed:
            if group in self._cancelled:
                raise RuntimeError(f"job group {group} was cancelled")
            job = next(self._ids)
            self._jobs[job] = group
            try:
                while group not in self._cancelled:  # Python-level waits: an interrupt gets through
                    self._changed.wait(0.05)
            finally:
                del self._jobs[job]
        raise RuntimeError(f"Job {job} cancelled as part of cancellation of job group {group}")

    def cancelJobGroupAndFutureJobs(self, group: str, reason: str) -> None:  # noqa: N802
        self.cancel_asked.set()
        assert self.cancel_gate.wait(WAIT)
        with self._changed:
            self._cancelled.add(group)
            self._changed.notify_all()

    def statusTracker(self) -> FakeSparkContext:  # noqa: N802
        return self

    def getActiveJobsIds(self) -> list[int]:  # noqa: N802
        with self._changed:
            return list(self._jobs)

    def getJobIdsForGroup(self, group: str) -> list[int]:  # noqa: N802
        with self._changed:
            return [job for job, owner in self._jobs.items() if owner == group]


class FakeSession:
    def __init__(self) -> None:
        self.sparkContext = FakeSparkContext()
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1


class SlowFactory:
    """A session factory whose "cold start" lasts until ``release`` is set."""

    def __init__(self, *, released: bool = False) -> None:
        self.session = FakeSession()
        self.release, self.started = threading.Event(), threading.Event()
        if released:
            self.release.set()
        self.calls = self.completed = 0
        self.threads: list[str] = []

    def __call__(self) -> FakeSession:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.started.set()
        deadline = time.monotonic() + WAIT
        while not self.release.wait(0.01):  # bytecodes between waits: an async exception would land
            assert time.monotonic() < deadline
        self.completed += 1
        return self.session


@pytest.fixture
def factory() -> SlowFactory:
    return SlowFactory()


@pytest.fixture
def runner(factory: SlowFactory) -> Iterator[LocalDatabricks]:
    service = LocalDatabricks(factory)
    yield service
    factory.release.set()
    factory.session.sparkContext.cancel_gate.set()
    service.shutdown()


def _submit(service: LocalDatabricks, payload: dict[str, Any]) -> int:
    return service.submit(parse_submit_run(payload))["run_id"]


def _cluster(service: LocalDatabricks) -> str:
    return service.create_cluster(parse_create_cluster(CLUSTER))["cluster_id"]


def _state(service: LocalDatabricks, run_id: int) -> dict[str, Any]:
    return dict(service.get(run_id)["state"])


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _ended(service: LocalDatabricks, run_id: int) -> dict[str, Any]:
    _wait(
        lambda: _state(service, run_id)["life_cycle_state"] not in ("PENDING", "RUNNING", "TERMINATING"),
        "end",
    )
    return service.get(run_id)


def test_a_cancel_during_the_cold_start_only_marks_the_run(
    runner: LocalDatabricks, factory: SlowFactory
) -> None:
    first = _submit(runner, wheel_run("merge", "--help"))
    assert factory.started.wait(WAIT)
    assert _state(runner, first)["life_cycle_state"] == "PENDING"  # waiting for its cluster

    runner.cancel(first)  # the session is still being created

    run = runner.get(first)  # over at once: the task never started
    assert (run["state"]["life_cycle_state"], run["state"]["result_state"]) == ("TERMINATED", "CANCELED")
    assert run["state"]["user_cancelled_or_timedout"] is True
    (task,) = run["tasks"]
    assert (task["state"]["life_cycle_state"], task["start_time"]) == ("SKIPPED", 0)

    factory.release.set()
    second = _submit(runner, wheel_run("merge", "--help"))
    assert _ended(runner, second)["state"]["result_state"] == "SUCCESS"
    # one session, created once, to the end, in the runner's executor: never in a task's thread
    assert (factory.calls, factory.completed, runner.sessions_created) == (1, 1, 1)
    assert factory.threads[0].startswith("local-cluster")
    assert runner.get(first)["state"]["result_state"] == "CANCELED"  # still


def test_deleting_a_cluster_during_the_cold_start_fails_its_pending_run(
    runner: LocalDatabricks, factory: SlowFactory
) -> None:
    cluster_id = _cluster(runner)
    run_id = _submit(runner, wheel_run("merge", "--help", existing_cluster_id=cluster_id))
    assert factory.started.wait(WAIT)

    runner.delete_cluster(cluster_id, permanently=False)

    run = runner.get(run_id)
    assert (run["state"]["life_cycle_state"], run["state"]["result_state"]) == ("INTERNAL_ERROR", "FAILED")
    assert run["state"]["state_message"] == f"Cluster {cluster_id} was terminated during the run."
    factory.release.set()
    assert _ended(runner, _submit(runner, wheel_run("merge", "--help")))["state"]["result_state"] == "SUCCESS"
    assert runner.get(run_id)["tasks"][0]["start_time"] == 0  # never started
    assert factory.calls == 1


def test_a_session_that_cannot_start_fails_the_run_and_is_tried_again() -> None:
    attempts: list[int] = []

    def broken() -> Any:
        attempts.append(1)
        raise RuntimeError("JAVA_GATEWAY_EXITED")

    service = LocalDatabricks(broken)
    try:
        run_id = _submit(service, wheel_run("merge", "--help"))
        run = _ended(service, run_id)
        assert (run["state"]["life_cycle_state"], run["state"]["result_state"]) == (
            "INTERNAL_ERROR",
            "FAILED",
        )
        assert (
            run["state"]["state_message"] == "The cluster could not start: RuntimeError: JAVA_GATEWAY_EXITED"
        )
        assert run["status"]["termination_details"]["code"] == "CLUSTER_ERROR"
        assert "Traceback" in service.get_output(run["tasks"][0]["run_id"])["error_trace"]
        _ended(service, _submit(service, wheel_run("merge", "--help")))
        assert len(attempts) == 2  # no half-made session kept
    finally:
        service.shutdown()


@pytest.mark.parametrize("permanently", [False, True], ids=["delete", "permanent-delete"])
def test_deleting_a_cluster_ends_the_runs_on_it(
    runner: LocalDatabricks, factory: SlowFactory, permanently: bool
) -> None:
    factory.release.set()
    cluster_id, other_cluster = _cluster(runner), _cluster(runner)
    runner.set_faults({"delays": {"merge": 600}})
    running = _submit(runner, wheel_run("merge", "--help", existing_cluster_id=cluster_id))
    queued = _submit(runner, wheel_run("stage_load", "--help", existing_cluster_id=cluster_id))
    elsewhere = _submit(runner, wheel_run("merge", "--help", existing_cluster_id=other_cluster))
    _wait(lambda: runner.stats()["spark_jobs_active"] == 1, "the running task's Spark job")

    runner.delete_cluster(cluster_id, permanently=permanently)

    message = f"Cluster {cluster_id} was terminated during the run."
    for run_id in (running, queued):
        run = _ended(runner, run_id)
        assert run["state"] == {
            "life_cycle_state": "INTERNAL_ERROR",
            "result_state": "FAILED",
            "state_message": message,
            "user_cancelled_or_timedout": False,
        }
        assert run["status"]["termination_details"] == {
            "code": "CLUSTER_ERROR",
            "message": message,
            "type": "CLIENT_ERROR",
        }
        assert runner.get_output(run["tasks"][0]["run_id"])["error"] == message
    assert runner.stats()["spark_jobs_active"] == 0  # the running task's Spark job was cancelled
    assert runner.get(running)["tasks"][0]["start_time"] > 0
    assert runner.get(queued)["tasks"][0]["start_time"] == 0
    assert _ended(runner, elsewhere)["state"]["result_state"] == "SUCCESS"  # other clusters' runs go on
    assert runner.runs_cancelled == 0


def test_a_terminating_run_already_says_it_was_cancelled(
    runner: LocalDatabricks, factory: SlowFactory
) -> None:
    factory.release.set()
    runner.set_faults({"delays": {"merge": 600}})
    run_id = _submit(runner, wheel_run("merge", "--help"))
    _wait(lambda: runner.stats()["spark_jobs_active"] == 1, "the task's Spark job")
    context = factory.session.sparkContext
    context.cancel_gate.clear()  # the Spark job outlives the cancel for a while
    cancelling = threading.Thread(target=runner.cancel, args=(run_id,))
    cancelling.start()
    assert context.cancel_asked.wait(WAIT)

    run = runner.get(run_id)
    assert run["state"] == {
        "life_cycle_state": "TERMINATING",
        "state_message": "Run cancelled.",
        "user_cancelled_or_timedout": True,
    }
    assert run["status"]["termination_details"]["code"] == "USER_CANCELED"
    assert run["tasks"][0]["state"]["user_cancelled_or_timedout"] is True

    context.cancel_gate.set()
    cancelling.join(WAIT)
    assert _ended(runner, run_id)["state"]["result_state"] == "CANCELED"


def test_the_session_starts_at_warm_up_and_stops_with_the_runner() -> None:
    factory = SlowFactory(released=True)
    service = LocalDatabricks(factory)
    service.warm_up()
    _wait(lambda: service.sessions_created == 1, "the warm-up")
    assert factory.threads == ["local-cluster_0"]
    assert (
        _ended(service, _submit(service, wheel_run("merge", "--help")))["state"]["result_state"] == "SUCCESS"
    )
    service.shutdown()
    assert (factory.calls, factory.session.stops) == (1, 1)


def test_a_session_the_runner_did_not_start_is_left_running(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyspark import SparkContext

    factory = SlowFactory(released=True)
    # the factory hands out the process's running session, as the tests' shared one
    monkeypatch.setattr(SparkContext, "_active_spark_context", factory.session.sparkContext)
    service = LocalDatabricks(factory)
    _ended(service, _submit(service, wheel_run("merge", "--help")))
    service.shutdown()
    assert factory.session.stops == 0


def test_a_timer_takes_any_timeout_without_dying() -> None:
    """A timeout beyond what a lock's wait can hold (10**20 s) used to kill the timer's thread with
    an OverflowError, leaving the run without a timeout (the API now refuses it as not an int32)."""
    fired = threading.Event()
    timer = _timer(10**20, fired.set)
    time.sleep(0.2)
    assert timer.is_alive()
    timer.cancel()
    timer.join(5)
    assert not fired.is_set()


# --- credentials and the identity, on the wire (no Spark behind) -------------------------------


@pytest.fixture
def tokenless() -> Iterator[str]:
    """A runner started without ``--token``: it serves a local workspace to any bearer token."""

    def no_spark() -> Any:
        raise RuntimeError("no Spark here")

    port = free_port()
    server = RunnerServer(LocalDatabricks(no_spark), port, token=None).start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwdw==", "Bearer", "Token x"])
def test_a_tokenless_runner_still_wants_a_bearer_token(tokenless: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.get(f"{tokenless}/api/2.2/jobs/runs/get?run_id=1", headers=headers)
    assert (response.status_code, response.json()) == (
        401,
        {
            "error_code": "UNAUTHENTICATED",
            "message": "Credential was not sent or was of an unsupported type for this API.",
        },
    )


def test_a_tokenless_runner_takes_any_bearer_token(tokenless: str) -> None:
    headers = {"Authorization": "bearer anything"}  # the scheme is case-insensitive (RFC 9110)
    response = httpx.get(f"{tokenless}/api/2.2/jobs/runs/get?run_id=1", headers=headers)
    assert (response.status_code, response.json()["message"]) == (400, "Run 1 does not exist.")
    me = httpx.get(f"{tokenless}/api/2.0/preview/scim/v2/Me", headers=headers)
    assert (me.status_code, me.json()["userName"]) == (200, "local-runner@example.test")


def test_a_clone_needs_a_cluster_to_clone(runner: LocalDatabricks) -> None:
    source = _cluster(runner)
    clone = runner.create_cluster(
        parse_create_cluster(CLUSTER | {"clone_from": {"source_cluster_id": source}})
    )
    assert clone["cluster_id"] != source
    runner.delete_cluster(source, permanently=True)
    with pytest.raises(ApiError, match=f"^INVALID_PARAMETER_VALUE: Cluster {source} does not exist$"):
        runner.create_cluster(parse_create_cluster(CLUSTER | {"clone_from": {"source_cluster_id": source}}))

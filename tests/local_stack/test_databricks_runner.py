"""The local runner speaks the Jobs API the way the Databricks provider's hook expects: the errors on
the wire, the states of a run, and a cancel (or a timeout) that really stops a running Spark job."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.utils.databricks import extract_failed_task_errors

from local_stack.airflow_env import LOCAL_TOKEN, databricks_connection
from local_stack.runner_client import RunnerClient
from tests.databricks_runs import wait_terminal, wheel_run

pytestmark = pytest.mark.spark

INVALID = "INVALID_PARAMETER_VALUE"
SLOW = 600  # seconds of the delay fault's Spark job: far longer than any test waits
UNKNOWN_RUN = 987_654_321


def _hook(port: int, token: str, monkeypatch: pytest.MonkeyPatch, retry_limit: int = 1) -> DatabricksHook:
    """A provider hook on an Airflow connection (from the environment) to the local runner."""
    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_RUNNER", json.dumps(databricks_connection(port, token)))
    return DatabricksHook("local_runner", retry_limit=retry_limit, retry_delay=0.1)


@pytest.fixture
def hook(databricks: RunnerClient, monkeypatch: pytest.MonkeyPatch) -> DatabricksHook:
    return _hook(databricks.port, LOCAL_TOKEN, monkeypatch)


@pytest.fixture
def api(databricks: RunnerClient) -> Iterator[httpx.Client]:
    """Plain HTTP to the runner, with the token."""
    headers = {"Authorization": f"Bearer {LOCAL_TOKEN}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{databricks.port}", headers=headers) as client:
        yield client


@pytest.fixture
def faults(api: httpx.Client) -> Iterator[Any]:
    """Post to ``/local/faults``; delays left unused are cleared after the test."""

    def post(body: dict[str, Any]) -> dict[str, Any]:
        response = api.post("/local/faults", json=body)
        response.raise_for_status()
        return dict(response.json())

    yield post
    post({"delays": {"merge": 0, "stage_load": 0}})


def _stats(api: httpx.Client) -> dict[str, Any]:
    return dict(api.get("/local/stats").json())


def _wait_slow_spark_job(hook: DatabricksHook, api: httpx.Client, run_id: int) -> None:
    """Until the run is RUNNING with a Spark job of the runner active (the delay fault's)."""
    deadline = time.monotonic() + 60
    while hook.get_run_state(run_id).life_cycle_state != "RUNNING" or _stats(api)["spark_jobs_active"] < 1:
        assert time.monotonic() < deadline, hook.get_run(run_id)
        time.sleep(0.1)


# --- runs and their states --------------------------------------------------------------------------


def test_a_succeeding_run_reports_state_and_status(hook: DatabricksHook) -> None:
    run_id = hook.submit_run(wheel_run("merge", "--help"))  # a real wheel task, no Spark work
    assert wait_terminal(hook, run_id).is_successful
    run = hook.get_run(run_id)
    assert run["status"] == {
        "state": "TERMINATED",
        "termination_details": {"code": "SUCCESS", "message": "", "type": "SUCCESS"},
    }
    (task,) = run["tasks"]
    assert (task["task_key"], task["state"]["result_state"]) == ("merge", "SUCCESS")
    assert task["new_cluster"]["spark_version"].startswith("17.3")  # the task's settings, as submitted


def test_a_failing_task_reports_its_error_like_databricks(hook: DatabricksHook) -> None:
    missing = "gs://tracking_orders/_batches/missing/manifest.json"
    run_id = hook.submit_run(wheel_run("merge", "--manifest", missing))
    state = wait_terminal(hook, run_id)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "FAILED")
    assert state.state_message == (  # Databricks' generic words: the error is in the run output only
        "Task merge failed with message: Workload failed, see run output for details. "
        "This caused all downstream tasks to get skipped."
    )
    run = hook.get_run(run_id)
    assert run["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"
    output = hook.get_run_output(run["tasks"][0]["run_id"])
    assert "missing/manifest.json" in output["error"]
    assert "Traceback" in output["error_trace"]
    # what the provider's operators put in the task's failure (they read each failed task's output)
    (failed,) = extract_failed_task_errors(hook, run, state)
    assert failed["task_key"] == "merge"
    assert "missing/manifest.json" in str(failed["error"])


def test_an_unknown_entry_point_fails_the_run(hook: DatabricksHook) -> None:
    run_id = hook.submit_run(wheel_run("no_such_job"))
    assert wait_terminal(hook, run_id).result_state == "FAILED"
    task_run = hook.get_run(run_id)["tasks"][0]
    assert "has no entry point 'no_such_job'" in hook.get_run_output(task_run["run_id"])["error"]


def test_a_run_on_a_cluster_that_is_gone_is_an_internal_error(hook: DatabricksHook) -> None:
    """As Databricks reports a run whose existing cluster was deleted."""
    run_id = hook.submit_run(wheel_run("merge", "--help", existing_cluster_id="0923-gone"))
    state = wait_terminal(hook, run_id)
    assert (state.life_cycle_state, state.result_state) == ("INTERNAL_ERROR", "FAILED")
    assert state.state_message == (
        "Run executed on existing cluster ID 0923-gone failed since the cluster does not exist."
    )
    assert hook.get_run(run_id)["status"]["termination_details"]["code"] == "RESOURCE_NOT_FOUND"


def test_an_idempotency_token_never_starts_a_second_run(hook: DatabricksHook) -> None:
    payload = wheel_run("no_such_job", idempotency_token="run-42-stage")
    first, second = hook.submit_run(payload), hook.submit_run(payload)
    assert first == second
    wait_terminal(hook, first)


# --- cancel, timeouts and the delay fault -----------------------------------------------------------


def test_a_running_run_is_cancelled_and_its_spark_job_killed(
    hook: DatabricksHook, api: httpx.Client, faults: Any
) -> None:
    faults({"delays": {"merge": SLOW}})
    cancelled = _stats(api)["runs_cancelled"]
    run_id = hook.submit_run(wheel_run("merge", "--help"))  # would succeed at once without the delay
    _wait_slow_spark_job(hook, api, run_id)

    began = time.monotonic()
    hook.cancel_run(run_id)
    state = wait_terminal(hook, run_id, seconds=60)

    assert time.monotonic() - began < 30  # the slow Spark job was killed, not waited for
    assert (state.life_cycle_state, state.result_state, state.state_message) == (
        "TERMINATED",
        "CANCELED",
        "Run cancelled.",
    )
    run = hook.get_run(run_id)
    assert run["state"]["user_cancelled_or_timedout"] is True
    assert run["status"] == {
        "state": "TERMINATED",
        "termination_details": {"code": "USER_CANCELED", "message": "Run cancelled.", "type": "SUCCESS"},
    }
    assert run["tasks"][0]["state"]["result_state"] == "CANCELED"
    stats = _stats(api)
    assert (stats["spark_jobs_active"], stats["runs_cancelled"]) == (0, cancelled + 1)

    again = hook.submit_run(wheel_run("merge", "--help"))  # the delay was that run's only
    assert wait_terminal(hook, again, seconds=60).is_successful
    hook.cancel_run(again)  # cancelling a finished run is a no-op, as on Databricks
    assert hook.get_run_state(again).result_state == "SUCCESS"


def test_a_cancel_skips_pending_tasks_and_queued_runs(
    hook: DatabricksHook, api: httpx.Client, faults: Any
) -> None:
    faults({"delays": {"stage_load": SLOW}})
    stage = wheel_run("stage_load", "--help")["tasks"][0]
    merge = wheel_run("merge", "--help")["tasks"][0] | {"depends_on": [{"task_key": "stage_load"}]}
    first = hook.submit_run({"run_name": "two steps", "tasks": [merge, stage]})
    queued = hook.submit_run(wheel_run("merge", "--help"))  # waits for the runner's one "cluster"
    _wait_slow_spark_job(hook, api, first)

    hook.cancel_run(queued)
    state = hook.get_run_state(queued)  # nothing to stop: over at once
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "CANCELED")
    assert hook.get_run(queued)["tasks"][0]["state"]["life_cycle_state"] == "SKIPPED"

    hook.cancel_run(first)
    assert wait_terminal(hook, first, seconds=60).result_state == "CANCELED"
    tasks = {t["task_key"]: t["state"] for t in hook.get_run(first)["tasks"]}
    assert (tasks["stage_load"]["life_cycle_state"], tasks["stage_load"]["result_state"]) == (
        "TERMINATED",
        "CANCELED",
    )
    assert (tasks["merge"]["life_cycle_state"], tasks["merge"]["result_state"]) == ("SKIPPED", "CANCELED")
    assert _stats(api)["spark_jobs_active"] == 0


@pytest.mark.parametrize(
    ("where", "message"),
    [("run", "Run timed out."), ("task", "Task merge timed out.")],
    ids=["run-timeout_seconds", "task-timeout_seconds"],
)
def test_a_run_past_its_timeout_is_stopped_as_timed_out(
    hook: DatabricksHook, api: httpx.Client, faults: Any, where: str, message: str
) -> None:
    faults({"delays": {"merge": SLOW}})
    timed_out = _stats(api)["runs_timed_out"]
    payload = wheel_run("merge", "--help")
    (payload if where == "run" else payload["tasks"][0])["timeout_seconds"] = 3
    began = time.monotonic()
    run_id = hook.submit_run(payload)

    state = wait_terminal(hook, run_id, seconds=60)

    assert 3 <= time.monotonic() - began < 30
    assert (state.life_cycle_state, state.result_state, state.state_message) == (
        "TERMINATED",
        "TIMEDOUT",
        message,
    )
    run = hook.get_run(run_id)
    assert run["state"]["user_cancelled_or_timedout"] is True
    assert (
        run["status"]["termination_details"]["code"] == "CANCELED"
    )  # "the maximum run duration was exceeded"
    assert run["tasks"][0]["state"]["result_state"] == "TIMEDOUT"
    stats = _stats(api)
    assert stats["spark_jobs_active"] == 0
    assert stats["runs_timed_out"] == timed_out + (where == "run")


@pytest.mark.parametrize("endpoint", ["delete", "permanent-delete"])
def test_deleting_a_cluster_ends_its_running_run(
    hook: DatabricksHook, api: httpx.Client, faults: Any, endpoint: str
) -> None:
    """As terminating a cluster ends the runs on it: the run's Spark job is killed, the run ends
    INTERNAL_ERROR with a cluster error."""
    cluster_id = api.post("/api/2.1/clusters/create", json=CLUSTER).json()["cluster_id"]
    faults({"delays": {"merge": SLOW}})
    cancelled = _stats(api)["runs_cancelled"]
    run_id = hook.submit_run(wheel_run("merge", "--help", existing_cluster_id=cluster_id))
    _wait_slow_spark_job(hook, api, run_id)

    began = time.monotonic()
    api.post(f"/api/2.1/clusters/{endpoint}", json={"cluster_id": cluster_id}).raise_for_status()
    state = wait_terminal(hook, run_id, seconds=60)

    assert time.monotonic() - began < 30  # the slow Spark job was killed, not waited for
    message = f"Cluster {cluster_id} was terminated during the run."
    assert (state.life_cycle_state, state.result_state, state.state_message) == (
        "INTERNAL_ERROR",
        "FAILED",
        message,
    )
    run = hook.get_run(run_id)
    assert run["status"]["termination_details"]["code"] == "CLUSTER_ERROR"
    assert hook.get_run_output(run["tasks"][0]["run_id"])["error"] == message
    stats = _stats(api)
    assert (stats["spark_jobs_active"], stats["runs_cancelled"]) == (0, cancelled)


def test_the_faults_endpoint_sets_and_clears_delays(faults: Any) -> None:
    assert faults({"delays": {"merge": 5}})["delays"] == {"merge": 5.0}
    assert faults({"delays": {"merge": 7}})["delays"] == {"merge": 7.0}  # replaced, not added
    cleared = faults({"delays": {"merge": 0}})
    assert cleared["delays"] == {}
    assert set(cleared) == {"http", "tasks", "delays"}


def test_a_bad_faults_body_is_refused(api: httpx.Client) -> None:
    response = api.post("/local/faults", json={"delay": {"merge": 5}})
    assert (response.status_code, response.json()["error_code"]) == (400, INVALID)


# --- refusals on the wire ---------------------------------------------------------------------------

CLUSTER = {"spark_version": "17.3.x-scala2.13", "node_type_id": "n2-highmem-4", "num_workers": 1}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "message"),
    [
        (
            "POST",
            "/api/2.2/jobs/runs/submit",
            b"{not json",
            400,
            "MALFORMED_REQUEST",
            "Invalid JSON given in the body of the request - failed to parse given JSON",
        ),
        (
            "POST",
            "/api/2.2/jobs/runs/submit",
            {"tasks": []},
            400,
            INVALID,
            "A run must have at least one task in 'tasks'.",
        ),
        (
            "POST",
            "/api/2.2/jobs/runs/submit",
            {"tasks": [], "job_clusters": []},
            400,
            INVALID,
            "Shared job cluster feature is not supported in runs/submit API.",
        ),
        (
            "GET",
            f"/api/2.2/jobs/runs/get?run_id={UNKNOWN_RUN}",
            None,
            400,
            INVALID,
            f"Run {UNKNOWN_RUN} does not exist.",
        ),
        (
            "GET",
            f"/api/2.2/jobs/runs/get-output?run_id={UNKNOWN_RUN}",
            None,
            400,
            INVALID,
            f"Run {UNKNOWN_RUN} does not exist.",
        ),
        (
            "POST",
            "/api/2.2/jobs/runs/cancel",
            {"run_id": UNKNOWN_RUN},
            400,
            INVALID,
            f"Run {UNKNOWN_RUN} does not exist.",
        ),
        ("POST", "/api/2.2/jobs/runs/cancel", {}, 400, INVALID, "Missing required field: run_id"),
        (
            "GET",
            "/api/2.2/jobs/runs/get?run_id=x",
            None,
            400,
            "MALFORMED_REQUEST",
            "Could not parse request object: Expected an integer for run_id",
        ),
        ("GET", "/api/2.1/clusters/get?cluster_id=nope", None, 400, INVALID, "Cluster nope does not exist"),
        (
            "POST",
            "/api/2.1/clusters/delete",
            {"cluster_id": "nope"},
            400,
            INVALID,
            "Cluster nope does not exist",
        ),
        (
            "POST",
            "/api/2.1/clusters/create",
            CLUSTER | {"autotermination_minutes": 5},
            400,
            INVALID,
            "the cluster: autotermination_minutes must be 0 or between 10 and 10000, not 5.",
        ),
        (
            "POST",
            "/api/2.2/jobs/runs/nope",
            {},
            404,
            "ENDPOINT_NOT_FOUND",
            "No API found for 'POST /jobs/runs/nope'",
        ),
        (
            "GET",
            "/api/2.2/jobs/runs/submit",
            None,
            404,
            "ENDPOINT_NOT_FOUND",
            "No API found for 'GET /jobs/runs/submit'",
        ),
        (
            "GET",
            f"/api/9.9/jobs/runs/get?run_id={UNKNOWN_RUN}",
            None,
            404,
            "ENDPOINT_NOT_FOUND",
            "No API found for 'GET /jobs/runs/get'",
        ),
        (
            "GET",
            f"/api/2.0/jobs/runs/get?run_id={UNKNOWN_RUN}",
            None,
            404,
            "ENDPOINT_NOT_FOUND",
            "No API found for 'GET /jobs/runs/get'",
        ),
        (
            "GET",
            "/api/2.2/clusters/get?cluster_id=nope",
            None,
            404,
            "ENDPOINT_NOT_FOUND",
            "No API found for 'GET /clusters/get'",
        ),
        (
            "GET",
            f"/api/2.1/jobs/runs/get?run_id={UNKNOWN_RUN}",
            None,
            400,
            INVALID,
            f"Run {UNKNOWN_RUN} does not exist.",
        ),
        ("GET", "/api/2.0/clusters/get?cluster_id=nope", None, 400, INVALID, "Cluster nope does not exist"),
        (
            "GET",
            f"/api/2.2/jobs/runs/get?run_id={10**20}",
            None,
            400,
            "MALFORMED_REQUEST",
            f"Could not parse request object: Numeric value ({10**20}) out of range of int64 for run_id",
        ),
        (
            "POST",
            "/api/2.1/clusters/create",
            CLUSTER | {"clone_from": {"source_cluster_id": "nope"}},
            400,
            INVALID,
            "Cluster nope does not exist",
        ),
        (
            "POST",
            "/api/2.1/clusters/create",
            CLUSTER | {"node_type_id": "i3.xlarge"},
            400,
            INVALID,
            "Node type i3.xlarge is not supported. Supported node types: Google Cloud machine types such as "
            "n2-highmem-4, e2-standard-4, n1-standard-8 or a2-highgpu-1g.",
        ),
    ],
    ids=[
        "not-json",
        "no-tasks",
        "job-clusters",
        "get-unknown-run",
        "get-output-unknown-run",
        "cancel-unknown-run",
        "cancel-without-run-id",
        "run-id-not-a-number",
        "get-unknown-cluster",
        "delete-unknown-cluster",
        "create-bad-cluster",
        "unknown-endpoint",
        "wrong-method",
        "unknown-version",
        "jobs-2.0",
        "clusters-2.2",
        "jobs-2.1",
        "clusters-2.0",
        "run-id-beyond-int64",
        "clone-from-unknown-cluster",
        "aws-node-type",
    ],
)
def test_databricks_refusals_on_the_wire(
    api: httpx.Client, method: str, path: str, body: Any, status: int, code: str, message: str
) -> None:
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    response = api.request(method, path, content=content)
    assert (response.status_code, response.json()) == (status, {"error_code": code, "message": message})


def test_a_submission_without_tasks_is_rejected(hook: DatabricksHook) -> None:
    with pytest.raises(AirflowException, match=r"INVALID_PARAMETER_VALUE.*at least one task"):
        hook.submit_run({"run_name": "empty", "tasks": []})


def test_the_hook_does_not_retry_a_refusal(databricks: RunnerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4xx is final for the provider's hook (it retries 5xx and 429 only)."""
    retrying = _hook(databricks.port, LOCAL_TOKEN, monkeypatch, retry_limit=3)
    calls = databricks.api_calls("runs/submit")
    with pytest.raises(AirflowException, match="Status Code: 400"):
        retrying.submit_run({"tasks": []})
    assert databricks.api_calls("runs/submit") == calls + 1


def test_a_wheel_task_with_both_parameter_fields_is_refused(hook: DatabricksHook) -> None:
    """Jobs API 2.2: a python_wheel_task takes ``parameters`` or ``named_parameters``, not both."""
    payload = wheel_run("merge", "--manifest", "gs://b/m.json")
    payload["tasks"][0]["python_wheel_task"]["named_parameters"] = {"manifest": "gs://b/m.json"}
    with pytest.raises(AirflowException, match=r"INVALID_PARAMETER_VALUE.*not both"):
        hook.submit_run(payload)


def test_a_wrong_token_is_refused(databricks: RunnerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AirflowException, match=r"Invalid access token.*Status Code: 403"):
        _hook(databricks.port, "wrong", monkeypatch).submit_run(wheel_run("merge"))


def test_a_request_without_a_token_is_refused(databricks: RunnerClient) -> None:
    response = httpx.get(f"http://127.0.0.1:{databricks.port}/api/2.2/jobs/runs/get?run_id=1")
    assert (response.status_code, response.json()["message"]) == (
        401,
        "Credential was not sent or was of an unsupported type for this API.",
    )

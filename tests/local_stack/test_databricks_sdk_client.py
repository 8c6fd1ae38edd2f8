"""A client nobody here wrote: the official ``databricks-sdk`` drives the local runner as it drives a
workspace (clusters, a real wheel run, a failure, a cancel, and Databricks' errors as its exceptions).

Note what the SDK itself does: ``jobs.submit(...).result()`` waits for ``TERMINATED`` or ``SKIPPED``
and returns the run whatever its result (FAILED and CANCELED included); it raises
``OperationFailed`` only for ``INTERNAL_ERROR`` (``JobsAPI.wait_get_run_job_terminated_or_skipped``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    NotFound,
    OperationFailed,
    ResourceDoesNotExist,
)
from databricks.sdk.service import compute, jobs

from local_stack.airflow_env import LOCAL_TOKEN
from local_stack.runner_client import RunnerClient
from order_tracking.databricks_jobs import WHEEL_PACKAGE

pytestmark = pytest.mark.spark

WAIT = timedelta(minutes=3)
HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"
ROW = "SDK1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,Oslo,2026-11-28\n"


@pytest.fixture
def w(databricks: RunnerClient) -> WorkspaceClient:
    return WorkspaceClient(host=f"http://127.0.0.1:{databricks.port}", token=LOCAL_TOKEN)


@pytest.fixture
def cluster(w: WorkspaceClient) -> Iterator[str]:
    """A single-user cluster for the connection's own identity, made through the SDK, deleted after
    the test."""
    details = w.clusters.create(
        spark_version="17.3.x-scala2.13",
        node_type_id="n2-highmem-4",
        num_workers=1,
        cluster_name="sdk test",
        data_security_mode=compute.DataSecurityMode.SINGLE_USER,
        single_user_name=w.current_user.me().user_name,
        autotermination_minutes=30,
    ).result(timeout=WAIT)
    assert details.cluster_id is not None
    yield details.cluster_id
    w.clusters.permanent_delete(details.cluster_id)


def _wheel_task(cluster_id: str, entry_point: str, **named: str) -> jobs.SubmitTask:
    wheel = jobs.PythonWheelTask(package_name=WHEEL_PACKAGE, entry_point=entry_point, named_parameters=named)
    return jobs.SubmitTask(task_key=entry_point, existing_cluster_id=cluster_id, python_wheel_task=wheel)


def _ended(w: WorkspaceClient, waiter: Any) -> jobs.Run:
    """``waiter.result()`` once the run has ended: polled here every 0.2 s, so the SDK's wait (which
    backs off to 10 s between polls) returns on its first poll."""
    deadline = time.monotonic() + WAIT.total_seconds()
    while (state := w.jobs.get_run(waiter.run_id).state) is None or state.life_cycle_state in (
        jobs.RunLifeCycleState.PENDING,
        jobs.RunLifeCycleState.RUNNING,
        jobs.RunLifeCycleState.TERMINATING,
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return waiter.result(timeout=WAIT)


def _task_run_id(run: jobs.Run) -> int:
    assert run.tasks
    task_run_id = run.tasks[0].run_id
    assert task_run_id is not None
    return task_run_id


def test_the_sdk_reads_the_connections_identity(w: WorkspaceClient) -> None:
    me = w.current_user.me()  # GET /api/2.0/preview/scim/v2/Me
    assert (me.user_name, me.active, me.id) == ("local-runner@example.test", True, "1000000000000001")
    assert me.emails
    assert me.emails[0].value == me.user_name


def test_the_sdk_cannot_create_a_single_user_cluster_without_its_user(w: WorkspaceClient) -> None:
    with pytest.raises(InvalidParameterValue, match="SINGLE_USER needs single_user_name"):
        w.clusters.create(
            spark_version="17.3.x-scala2.13",
            node_type_id="n2-highmem-4",
            num_workers=1,
            data_security_mode=compute.DataSecurityMode.SINGLE_USER,
        )
    with pytest.raises(InvalidParameterValue, match=r"^Invalid spark version 18\.x-scala2\.13\.$"):
        w.clusters.create(spark_version="18.x-scala2.13", node_type_id="n2-highmem-4", num_workers=1)


def test_the_sdk_creates_reads_and_deletes_a_cluster(w: WorkspaceClient) -> None:
    created = w.clusters.create(
        spark_version="17.3.x-scala2.13", node_type_id="n2-highmem-4", num_workers=2, cluster_name="sdk"
    ).result(timeout=WAIT)  # waits for RUNNING
    assert created.state == compute.State.RUNNING
    assert created.cluster_id is not None
    fetched = w.clusters.get(created.cluster_id)
    assert (fetched.cluster_name, fetched.num_workers, fetched.spark_version) == (
        "sdk",
        2,
        "17.3.x-scala2.13",
    )

    w.clusters.permanent_delete(created.cluster_id)

    with pytest.raises(ResourceDoesNotExist, match=f"Cluster {created.cluster_id} does not exist"):
        w.clusters.get(created.cluster_id)


def test_the_sdk_runs_a_real_wheel_task_to_success(
    w: WorkspaceClient, cluster: str, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    """A dry-run ``stage_load`` of a one-row batch: Spark reads and checks the object from the GCS
    emulator and the job writes its result document, without the Delta writes of a real load."""
    created = datetime(2026, 11, 26, tzinfo=UTC)
    manifest = put_batch("sdk_ok", {"one.csv": HEADER + ROW}, created, dry_run=True)
    task = _wheel_task(cluster, "stage_load", manifest=manifest, tables_root=str(tmp_path))

    run = _ended(w, w.jobs.submit(run_name="sdk stage_load", tasks=[task]))

    assert run.state is not None
    assert (run.state.life_cycle_state, run.state.result_state) == (
        jobs.RunLifeCycleState.TERMINATED,
        jobs.RunResultState.SUCCESS,
    )
    assert run.status is not None
    assert run.status.termination_details is not None
    assert run.status.termination_details.code == jobs.TerminationCodeCode.SUCCESS
    assert run.run_id is not None
    assert w.jobs.get_run(run.run_id).run_name == "sdk stage_load"
    output = w.jobs.get_run_output(_task_run_id(run))
    assert output.error is None
    assert output.metadata is not None
    assert output.metadata.run_id == _task_run_id(run)
    result = json.loads(bucket.blob("_batches/sdk_ok/stage_result.json").download_as_bytes())
    assert (result["records_read"], result["rows_staged"], result["dry_run"]) == (1, 1, True)  # it ran


def test_the_sdk_sees_a_failed_task_as_databricks_reports_it(w: WorkspaceClient, cluster: str) -> None:
    task = _wheel_task(cluster, "merge", manifest="gs://tracking_orders/_batches/none/manifest.json")

    run = _ended(w, w.jobs.submit(run_name="sdk merge", tasks=[task]))  # the SDK's wait returns: FAILED

    assert run.state is not None
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert run.state.state_message == (
        "Task merge failed with message: Workload failed, see run output for details. "
        "This caused all downstream tasks to get skipped."
    )
    assert run.status is not None
    assert run.status.termination_details is not None
    assert run.status.termination_details.code == jobs.TerminationCodeCode.RUN_EXECUTION_ERROR
    output = w.jobs.get_run_output(_task_run_id(run))
    assert output.error is not None
    assert "none/manifest.json" in output.error
    assert output.error_trace is not None
    assert "Traceback" in output.error_trace


def test_the_sdk_raises_for_a_run_whose_cluster_is_gone(w: WorkspaceClient) -> None:
    task = _wheel_task("0923-gone", "merge", manifest="m")
    with pytest.raises(OperationFailed, match=r"failed to reach TERMINATED or SKIPPED, got .*INTERNAL_ERROR"):
        _ended(w, w.jobs.submit(run_name="gone", tasks=[task]))


def test_the_sdk_cancels_a_running_run(w: WorkspaceClient, databricks: RunnerClient, cluster: str) -> None:
    runner = f"http://127.0.0.1:{databricks.port}/local"
    httpx.post(f"{runner}/faults", json={"delays": {"merge": 600}}).raise_for_status()
    try:
        waiter = w.jobs.submit(run_name="sdk slow", tasks=[_wheel_task(cluster, "merge", manifest="m")])
        run_id = waiter.run_id
        deadline = time.monotonic() + 60
        while httpx.get(f"{runner}/stats").json()["spark_jobs_active"] < 1:  # the slow Spark job runs
            assert time.monotonic() < deadline
            time.sleep(0.2)

        cancelled = w.jobs.cancel_run(run_id).result(timeout=WAIT)  # waits for TERMINATED
    finally:
        httpx.post(f"{runner}/faults", json={"delays": {"merge": 0}}).raise_for_status()

    assert cancelled.state is not None
    assert cancelled.state.result_state == jobs.RunResultState.CANCELED
    assert cancelled.state.user_cancelled_or_timedout is True
    assert cancelled.status is not None
    assert cancelled.status.termination_details is not None
    assert cancelled.status.termination_details.code == jobs.TerminationCodeCode.USER_CANCELED
    assert httpx.get(f"{runner}/stats").json()["spark_jobs_active"] == 0
    assert waiter.result(timeout=WAIT).state == cancelled.state  # the submit's own wait sees it too


def test_databricks_errors_arrive_as_the_sdks_exceptions(w: WorkspaceClient, cluster: str) -> None:
    with pytest.raises(ResourceDoesNotExist, match="Run 987654321 does not exist"):
        w.jobs.get_run(987_654_321)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run_output(987_654_321)
    with pytest.raises(InvalidParameterValue, match="Run 987654321 does not exist"):
        w.jobs.cancel_run(987_654_321)

    both = _wheel_task(cluster, "merge", manifest="m")
    assert both.python_wheel_task is not None
    both.python_wheel_task.parameters = ["--manifest", "m"]
    with pytest.raises(InvalidParameterValue, match="not both"):
        w.jobs.submit(run_name="both", tasks=[both])

    with pytest.raises(
        BadRequest, match="Unknown field 'bogus'"
    ):  # MALFORMED_REQUEST has no class of its own
        w.api_client.do("POST", "/api/2.2/jobs/runs/submit", body={"bogus": 1})
    with pytest.raises(NotFound, match="No API found for 'GET /jobs/runs/list'"):
        w.api_client.do("GET", "/api/2.2/jobs/runs/list")

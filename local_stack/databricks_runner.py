"""A local stand-in for the part of the Databricks Jobs API 2.2 and Clusters API the product uses.

It really executes each submitted ``python_wheel_task``: the entry point of the installed wheel
package is called in this process on one warm local SparkSession (as a Databricks cluster runs a
wheel task in its driver), one task at a time. Requests are parsed with the official SDK's types
and refused as Databricks refuses them (:mod:`local_stack.databricks_api`); states, errors and run
output are reported in Databricks' shapes (:mod:`local_stack.databricks_runs`), so the provider's
operators, hooks and triggers and ``databricks-sdk`` work unchanged.

The SparkSession (the local "cluster") is created by the factory on first use, in the runner's one
executor thread, before a task's thread starts (``main`` starts it at once): never in a task's
thread, which a cancel interrupts. A run waiting for it is ``PENDING``; cancelling it (or deleting
its cluster) meanwhile only marks it, and once the session is up its tasks are skipped.
:meth:`LocalDatabricks.shutdown` stops the session and its JVM if the factory started them (one
passed in already running, as the tests share theirs, is left running).

A cancel (``runs/cancel``, or ``timeout_seconds`` running out) really stops the run: pending tasks
are skipped; a running task's Spark jobs are cancelled through its job group, every later Spark
job of that group is refused, and :class:`~local_stack.databricks_runs.TaskInterrupted` is raised
in the task's thread; the run is ``TERMINATING`` until the task's code has returned and its Spark
jobs are gone (a task that does not stop within :data:`STOP_GRACE_SECONDS` is abandoned).
``clusters/delete`` and ``clusters/permanent-delete`` end the runs on that cluster the same way, as
terminating a cluster ends its runs on Databricks: they end ``INTERNAL_ERROR`` / ``FAILED``
(``CLUSTER_ERROR``).

Endpoints: ``jobs/runs/submit``, ``jobs/runs/get``, ``jobs/runs/get-output``, ``jobs/runs/cancel``
(Jobs API 2.1 and 2.2), ``clusters/create``, ``clusters/get``, ``clusters/delete``,
``clusters/permanent-delete`` (Clusters API 2.0 and 2.1), ``GET /api/2.0/preview/scim/v2/Me`` (the
SDK's ``current_user.me()``: one fixed local identity, :data:`LOCAL_USER`, whatever the token) and
the Files API of :mod:`local_stack.databricks_files`; any other ``/api/`` path or version is 404
``ENDPOINT_NOT_FOUND`` "No API found for '<METHOD> <path>'" (as Databricks answers, e.g. in public
client tests). A request without a bearer token is 401 ``UNAUTHENTICATED`` ("Credential was not
sent or was of an unsupported type for this API."), whatever the mode; started with ``--token``,
the runner answers any other token with a 403 ``{"error_code": 403, "message": "Invalid access
token."}``, as a workspace answers it (databricks/databricks-sdk-go issues 873 and 917); started
without it, it serves a local workspace to any bearer token. Neither refusal is retried by the
provider's hook or the SDK (which raises ``Unauthenticated`` for the 401 and ``PermissionDenied``
for the 403). For tests and benchmarks:

- ``GET /local/stats``: ``{"cluster_starts": n, "api_calls": {endpoint: n}, "runs": n,
  "clusters_running": n, "runs_cancelled": n, "runs_timed_out": n, "spark_jobs_active": n}``
  (``runs_cancelled``: runs stopped by ``runs/cancel``; ``runs_timed_out``: by their run-level
  ``timeout_seconds``; ``spark_jobs_active``: Spark jobs of the runner's task runs still running).
- ``POST /local/faults`` with any of ``{"http": {endpoint: n}}`` (answer the next ``n`` calls of an
  endpoint such as ``runs/submit`` with a 503 *after* doing the work, as a lost response would),
  ``{"tasks": {entry_point: n}}`` (fail the next ``n`` runs of an entry point) and ``{"delays":
  {entry_point: seconds}}`` (the next run of that entry point first runs a Spark job sleeping that
  long, in the task's job group; one run per entry, a new value replaces the old, ``0`` clears it).
  ``http`` and ``tasks`` counts add up. The answer is the faults still pending, in the same shape.
  ``DELETE /local/faults`` drops every pending fault (answer: the empty shape).
- ``GET /local/runs?entry_point=<name>``: ``{"runs": [{"run_id": n, "state": {...}, "cluster":
  id or null, "python_wheel_task": {...}}]}``, every run of that wheel entry point, oldest first.

:class:`local_stack.runner_client.RunnerClient` reads these (and ``runs/get``, ``clusters/get``)
over HTTP for tests and benchmarks, so none of them reaches into the runner's attributes.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import uvicorn
from databricks.sdk.service import compute, jobs
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from local_stack.databricks_api import (
    ApiError,
    CreateCluster,
    SubmitRun,
    cluster_does_not_exist,
    execution_order,
    invalid,
    parse_cluster_id,
    parse_create_cluster,
    parse_json_body,
    parse_run_id,
    parse_submit_run,
    run_does_not_exist,
)
from local_stack.databricks_files import files_router
from local_stack.databricks_runs import (
    STOP_MESSAGES,
    UPSTREAM_FAILED_MESSAGE,
    WORKLOAD_FAILED_MESSAGE,
    Code,
    Life,
    Result,
    Run,
    TaskRun,
    TaskThread,
    cluster_terminated_message,
    now_ms,
)
from local_stack.polling import PollTimeoutError, poll

log = logging.getLogger("local_databricks")

STOP_GRACE_SECONDS = 60.0  # a stopped task still running after this long is abandoned
JOBS_GONE_SECONDS = 10.0  # how long a stopped task's cancelled Spark jobs may take to end
# The API versions these endpoints are answered under; any other is 404. The SDK and the provider
# call Jobs 2.2 and Clusters 2.1; Jobs 2.1 (the provider's before 2.2, Airflow's DatabricksRunNow
# docs) and Clusters 2.0 (e.g. Terraform's calls in terraform-provider-databricks issue 2521) are
# served by workspaces too. The deprecated Jobs 2.0 takes single-task bodies this runner does not
# parse, so it is not answered here.
JOBS_VERSIONS = ("2.1", "2.2")
CLUSTERS_VERSIONS = ("2.0", "2.1")
JVM_EXIT_SECONDS = 30.0  # how long the runner's JVM may take to exit once its gateway is closed
SERVER_START_SECONDS = 30.0  # how long the HTTP server may take to listen
# The one identity of the local workspace (``GET /api/2.0/preview/scim/v2/Me``), in SCIM's shape as
# the SDK's ``iam.User`` reads it; the product fills ``single_user_name`` from it.
LOCAL_USER: dict[str, Any] = {
    "id": "1000000000000001",
    "userName": "local-runner@example.test",
    "displayName": "Local runner",
    "active": True,
    "emails": [{"value": "local-runner@example.test", "type": "work", "primary": True}],
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
}


class InjectedFailureError(RuntimeError):
    """A task failure asked for through ``/local/faults``."""


@dataclass
class Cluster:
    cluster_id: str
    request: CreateCluster
    state: str = "RUNNING"  # the local "cluster" is the warm SparkSession: it starts at once
    deleted: bool = False

    def describe(self) -> dict[str, Any]:
        """``clusters/get``: the spec as created, with the id and state (``compute.ClusterDetails``)."""
        return self.request.spec.as_dict() | {
            "cluster_id": self.cluster_id,
            "state": self.state,
            "state_message": "",
        }


class LocalDatabricks:
    """Run bookkeeping and execution; the HTTP layer is :func:`create_app`."""

    def __init__(
        self,
        spark_factory: Callable[[], Any],
        base_url: str = "http://127.0.0.1",
        owns_spark: bool | None = None,
    ) -> None:
        """``spark_factory`` makes the local "cluster" on first use. ``owns_spark``: whether
        :meth:`shutdown` stops that session and its JVM; ``None`` decides by whether the factory
        started a new SparkContext (a :class:`~local_stack.local_stack.LocalStack` passes ``False``:
        it stops its session itself)."""
        self._spark_factory = spark_factory
        self._spark: Any = None
        self._owns_spark_setting = owns_spark
        self._owns_spark = False  # the session is this runner's to stop (see __init__)
        self._owned_gateway: Any = None  # the Py4J gateway (and JVM) the factory launched, if it did
        self.sessions_created = 0
        self._base_url = base_url
        self._ids = itertools.count(1)
        self._runs: dict[int, Run] = {}
        self._task_runs: dict[int, tuple[Run, TaskRun]] = {}
        self._tokens: dict[str, int] = {}
        self._lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-cluster")
        self._pending: set[Future[None]] = set()  # submitted to the executor, not finished yet
        self.cluster_starts = 0
        self.runs_cancelled = 0
        self.runs_timed_out = 0
        self.api_calls: Counter[str] = Counter()
        self._clusters: dict[str, Cluster] = {}
        self._cluster_tokens: dict[str, str] = {}
        self.http_faults: Counter[str] = Counter()  # endpoint -> responses still to replace by a 503
        self.task_faults: Counter[str] = Counter()  # entry point -> runs still to fail
        self.delay_faults: dict[str, float] = {}  # entry point -> seconds of the next run's slow Spark job

    # --- Jobs API ---------------------------------------------------------------------------
    def submit(self, request: SubmitRun) -> dict[str, int]:
        """``runs/submit``: a repeated ``idempotency_token`` returns the run it already created."""
        token = request.idempotency_token
        with self._lock:
            if token and token in self._tokens:
                return {"run_id": self._tokens[token]}
            for spec in request.tasks:
                if spec.existing_cluster_id is not None:
                    self._restart_if_terminated(spec.existing_cluster_id)
            tasks = [TaskRun(next(self._ids), spec) for spec in execution_order(request.tasks)]
            run = Run(next(self._ids), request.run_name or "Untitled", tasks, request.timeout_seconds or 0)
            self._runs[run.run_id] = run
            for task in tasks:
                self._task_runs[task.run_id] = (run, task)
            if token:
                self._tokens[token] = run.run_id
            self.cluster_starts += sum(1 for spec in request.tasks if spec.new_cluster is not None)
        self._in_executor(self._execute, run)
        return {"run_id": run.run_id}

    def get(self, run_id: int) -> dict[str, Any]:
        """``runs/get`` of a run, or of one of its task runs (raises :class:`ApiError` if unknown)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return self._task_run(run_id)[1].describe(self._page(run_id))
            return {
                "job_id": 0,
                "run_id": run.run_id,
                "run_name": run.run_name,
                "run_type": "SUBMIT_RUN",
                "state": run.state(),
                "status": run.status(),
                "tasks": [task.describe(self._page(task.run_id)) for task in run.tasks],
                "start_time": run.start_time,
                "end_time": run.end_time,
                "run_page_url": self._page(run.run_id),
            }

    def get_output(self, run_id: int) -> dict[str, Any]:
        """``runs/get-output`` of a task run: its metadata, and ``error`` / ``error_trace`` if it failed."""
        with self._lock:
            if run_id in self._runs:
                raise invalid(
                    "Retrieving the output of runs with multiple tasks is not supported. "
                    "Please retrieve the output of each individual task run instead."
                )
            task = self._task_run(run_id)[1]
            output: dict[str, Any] = {"metadata": task.describe(self._page(run_id))}
            if task.error is not None:
                output["error"] = task.error
                output["error_trace"] = task.error_trace
            return output

    def cancel(self, run_id: int) -> None:
        """``runs/cancel`` of a run (or of a task run's run); a finished run is left as it is."""
        run = self._runs.get(run_id) or self._task_run(run_id)[0]
        self._stop(run, Result.CANCELED)

    def _task_run(self, run_id: int) -> tuple[Run, TaskRun]:
        found = self._task_runs.get(run_id)
        if found is None:
            raise run_does_not_exist(run_id)
        return found

    # --- Clusters API -----------------------------------------------------------------------
    def create_cluster(self, request: CreateCluster) -> dict[str, str]:
        """``clusters/create``; a token whose cluster is not terminated returns that cluster.

        Raises:
            ApiError: ``clone_from`` names a cluster that does not exist.
        """
        token = request.idempotency_token
        with self._lock:
            if token and token in self._cluster_tokens:
                return {"cluster_id": self._cluster_tokens[token]}
            if request.clone_from is not None:
                self._cluster(request.clone_from.source_cluster_id)
            cluster = Cluster(f"local-{next(self._ids):04d}", request)
            self._clusters[cluster.cluster_id] = cluster
            if token:
                self._cluster_tokens[token] = cluster.cluster_id
            self.cluster_starts += 1
        return {"cluster_id": cluster.cluster_id}

    def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        """``clusters/get`` (raises :class:`ApiError` for an unknown or permanently deleted cluster)."""
        return self._cluster(cluster_id).describe()

    def delete_cluster(self, cluster_id: str, permanently: bool) -> None:
        """``clusters/delete`` terminates; ``clusters/permanent-delete`` also forgets the cluster.

        Either ends the runs on the cluster, as terminating a cluster does on Databricks: its
        running task runs are stopped as a cancel stops them and its pending ones are not started;
        they end ``INTERNAL_ERROR`` / ``FAILED`` with a ``CLUSTER_ERROR`` (see
        :mod:`local_stack.databricks_runs`).
        """
        message = cluster_terminated_message(cluster_id)
        with self._lock:
            cluster = self._cluster(cluster_id)
            cluster.state, cluster.deleted = "TERMINATED", permanently
            for token, owner in list(self._cluster_tokens.items()):
                if owner == cluster_id:
                    del self._cluster_tokens[token]  # Databricks clears the token on termination
            running = []
            for run in self._runs.values():
                for task in run.tasks:
                    if task.spec.existing_cluster_id != cluster_id:
                        continue
                    if task.life is Life.PENDING:
                        task.break_off(message, Code.CLUSTER_ERROR)
                    elif task.life is Life.RUNNING:
                        task.stopping(
                            Result.FAILED,
                            STOP_GRACE_SECONDS,
                            message,
                            Life.INTERNAL_ERROR,
                            Code.CLUSTER_ERROR,
                        )
                        running.append(task)
                if run.done and not run.end_time:
                    run.end_time = now_ms()
        for task in running:
            self._interrupt(task)

    def _cluster(self, cluster_id: str) -> Cluster:
        cluster = self._clusters.get(cluster_id)
        if cluster is None or cluster.deleted:
            raise cluster_does_not_exist(cluster_id)
        return cluster

    def _restart_if_terminated(self, cluster_id: str) -> None:
        """A run on a terminated all-purpose cluster starts it again, as Databricks does."""
        cluster = self._clusters.get(cluster_id)
        if cluster is not None and not cluster.deleted and cluster.state == "TERMINATED":
            cluster.state = "RUNNING"
            self.cluster_starts += 1

    # --- for tests and benchmarks -----------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """``/local/stats`` (see the module docstring)."""
        return {
            "cluster_starts": self.cluster_starts,
            "api_calls": dict(self.api_calls),
            "runs": len(self._runs),
            "clusters_running": sum(1 for c in self._clusters.values() if c.state == "RUNNING"),
            "runs_cancelled": self.runs_cancelled,
            "runs_timed_out": self.runs_timed_out,
            "spark_jobs_active": self._spark_jobs_active(),
        }

    def clear_faults(self) -> dict[str, Any]:
        """``DELETE /local/faults``: forget every pending fault; returns the (empty) pending faults."""
        with self._lock:
            self.http_faults.clear()
            self.task_faults.clear()
            self.delay_faults.clear()
        return self.set_faults({})

    def set_faults(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``/local/faults`` (see the module docstring); returns the faults still pending."""
        sections = {name: body.get(name, {}) for name in ("http", "tasks", "delays")}
        if set(body) - set(sections) or not all(
            isinstance(section, dict) and all(isinstance(v, int | float) for v in section.values())
            for section in sections.values()
        ):
            raise invalid('faults: {"http"|"tasks"|"delays": {name: number}}')
        with self._lock:
            self.http_faults.update(sections["http"])
            self.task_faults.update(sections["tasks"])
            for entry_point, seconds in sections["delays"].items():
                if seconds > 0:
                    self.delay_faults[entry_point] = float(seconds)
                else:
                    self.delay_faults.pop(entry_point, None)
            return {
                "http": +self.http_faults,
                "tasks": +self.task_faults,
                "delays": dict(self.delay_faults),
            }

    def runs_of(self, entry_point: str) -> list[dict[str, Any]]:
        """Every run of one entry point, oldest first, with its final state (for tests)."""
        return [
            {
                "run_id": run.run_id,
                "state": run.state(),
                "cluster": first.existing_cluster_id,
                "python_wheel_task": first.python_wheel_task.as_dict(),
            }
            for run in list(self._runs.values())
            for first in [run.tasks[0].spec]
            if first.python_wheel_task is not None and first.python_wheel_task.entry_point == entry_point
        ]

    def _spark_jobs_active(self) -> int:
        if self._spark is None:
            return 0
        tracker = self._spark.sparkContext.statusTracker()
        active = set(tracker.getActiveJobsIds())
        if not active:
            return 0
        with self._lock:
            groups = [task.job_group for run in self._runs.values() for task in run.tasks if task.start_time]
        return sum(1 for group in groups for job in tracker.getJobIdsForGroup(group) if job in active)

    # --- execution ------------------------------------------------------------------------
    def _page(self, run_id: int) -> str:
        return f"{self._base_url}/#job/0/run/{run_id}"

    def current_user(self) -> dict[str, Any]:
        """``GET /api/2.0/preview/scim/v2/Me``: the one local identity every token stands for."""
        return dict(LOCAL_USER)

    def warm_up(self) -> None:
        """Start the SparkSession now, in the runner's executor (before any run needs it)."""

        def create() -> None:
            try:
                self._ensure_session()
            except Exception:  # a run reports it when it needs the session
                log.exception("the local SparkSession could not be started")

        self._in_executor(create)

    def _in_executor(self, function: Callable[..., None], *args: Any) -> None:
        future = self._executor.submit(function, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _ensure_session(self) -> Any:
        """The SparkSession, created on first use. Only ever called in the executor's one thread,
        never in a task thread: a cancel raises an exception in a task's thread, and one raised in
        the middle of starting a JVM and a SparkContext leaves a half-made context (every later
        session fails with SPARK-2243) or an orphaned second JVM."""
        if self._spark is None:
            from pyspark import SparkContext

            context_before, gateway_before = SparkContext._active_spark_context, SparkContext._gateway
            spark = self._spark_factory()
            self.sessions_created += 1
            self._owns_spark = (
                getattr(spark, "sparkContext", None) is not context_before
                if self._owns_spark_setting is None
                else self._owns_spark_setting
            )
            if SparkContext._gateway is not None and SparkContext._gateway is not gateway_before:
                self._owned_gateway = SparkContext._gateway
            self._spark = spark
        return self._spark

    def _stop_session(self, jvm_timeout: float = JVM_EXIT_SECONDS) -> None:
        """Stop the SparkSession and the JVM if this runner started them (a shared one is left)."""
        spark, self._spark = self._spark, None
        if spark is not None and self._owns_spark:
            try:
                spark.stop()
            except Exception:
                log.exception("stopping the local SparkSession failed")
        gateway, self._owned_gateway = self._owned_gateway, None
        if gateway is not None and self._owns_spark:
            from local_stack.spark import end_gateway_jvm

            end_gateway_jvm(gateway, jvm_timeout)

    def _execute(self, run: Run) -> None:
        timer = _timer(run.timeout_seconds, partial(self._stop, run, Result.TIMEDOUT))
        try:
            for task in run.tasks:
                self._run_task(run, task)
        finally:
            timer.cancel()
            with self._lock:
                run.end_time = run.end_time or now_ms()  # a run cancelled before it started has one

    def _run_task(self, run: Run, task: TaskRun) -> None:
        with self._lock:
            if task.done:  # skipped by a cancel
                return
            if not self._may_start(run, task):
                return
        try:  # here, in the executor, never in the task's (interruptible) thread; the task is PENDING
            spark = self._ensure_session()
        except Exception as err:
            with self._lock:
                if not task.done:
                    task.break_off(
                        f"The cluster could not start: {type(err).__name__}: {err}", Code.CLUSTER_ERROR
                    )
                    task.error_trace = traceback.format_exc()
            log.exception("the local SparkSession could not be started for task run %s", task.run_id)
            return
        with self._lock:
            if task.done:  # cancelled, or its cluster deleted, while the session was starting
                return
            thread = TaskThread(partial(self._task_body, task, spark), f"local-databricks-task-{task.run_id}")
            task.begin(thread)
        thread.start()
        timer = _timer(task.spec.timeout_seconds or 0, partial(self._stop_task, task))
        try:
            while thread.is_alive():
                thread.join(0.2)
                if task.stop_deadline is not None and time.monotonic() > task.stop_deadline:
                    log.warning("task run %s did not stop: abandoned", task.run_id)
                    break
        finally:
            timer.cancel()
        if task.stop_reason is not None:
            self._await_jobs_gone(task)
        with self._lock:
            if task.stop_reason is not None:
                task.stopped()
            elif thread.error is not None:
                task.error = f"{type(thread.error).__name__}: {thread.error}"
                task.error_trace = thread.error_trace
                task.finish(Result.FAILED, WORKLOAD_FAILED_MESSAGE)
                log.error("task %s of run %s failed: %s", task.task_key, run.run_id, task.error)
            else:
                task.finish(Result.SUCCESS)

    def _may_start(self, run: Run, task: TaskRun) -> bool:
        """Skip a task whose upstream did not succeed; fail one whose cluster is gone (as Databricks)."""
        upstream = [run.task(dep.task_key).result for dep in task.spec.depends_on or []]
        if any(result in (Result.CANCELED, Result.UPSTREAM_CANCELED) for result in upstream):
            task.skip(Result.UPSTREAM_CANCELED, "An upstream task was cancelled.")
            return False
        if any(result is not Result.SUCCESS for result in upstream):
            task.skip(Result.UPSTREAM_FAILED, UPSTREAM_FAILED_MESSAGE)
            return False
        cluster_id = task.spec.existing_cluster_id
        cluster = self._clusters.get(cluster_id) if cluster_id is not None else None
        if cluster_id is not None and (cluster is None or cluster.deleted):
            task.break_off(
                f"Run executed on existing cluster ID {cluster_id} failed since the cluster does not exist.",
                Code.RESOURCE_NOT_FOUND,
            )
            return False
        return True

    def _task_body(self, task: TaskRun, spark: Any) -> None:
        """A task's code, in its own thread: its Spark jobs go to the task run's job group."""
        spark.sparkContext.setJobGroup(task.job_group, f"{task.task_key} (run {task.run_id})", True)
        wheel = task.spec.python_wheel_task
        assert wheel is not None  # the only task type parse_submit_run lets through
        with self._lock:
            delay = self.delay_faults.pop(wheel.entry_point, 0.0)
            injected = self.task_faults[wheel.entry_point] > 0
            if injected:
                self.task_faults[wheel.entry_point] -= 1
        if delay:  # a Spark job a cancel has to kill (time.sleep is pickled by reference)
            spark.sparkContext.parallelize([delay], 1).foreach(time.sleep)
        if injected:
            raise InjectedFailureError(f"failure of {wheel.entry_point} injected through /local/faults")
        run_wheel_task(wheel)

    def _stop(self, run: Run, reason: Result) -> None:
        """Cancel (``runs/cancel``) or time out a run: skip its pending tasks, stop its running one."""
        with self._lock:
            if run.done or run.stop_reason is not None:
                return
            run.stop_reason = reason
            if reason is Result.CANCELED:
                self.runs_cancelled += 1
            else:
                self.runs_timed_out += 1
            running = [task for task in run.tasks if task.life is Life.RUNNING]
            for task in run.tasks:
                if task.life is Life.PENDING:
                    task.skip(reason, STOP_MESSAGES[reason])
            for task in running:
                task.stopping(reason, STOP_GRACE_SECONDS)
            if run.done:
                run.end_time = now_ms()
        for task in running:
            self._interrupt(task)

    def _stop_task(self, task: TaskRun) -> None:
        """A task's own ``timeout_seconds`` ran out."""
        with self._lock:
            if task.life is not Life.RUNNING:
                return
            task.stopping(Result.TIMEDOUT, STOP_GRACE_SECONDS)
        self._interrupt(task)

    def _interrupt(self, task: TaskRun) -> None:
        """Cancel the task's Spark jobs (and refuse its later ones), then raise in its thread."""
        reason = task.stop_message or STOP_MESSAGES[Result.CANCELED]
        if self._spark is not None:
            try:
                self._spark.sparkContext._jsc.sc().cancelJobGroupAndFutureJobs(task.job_group, reason)
            except Exception:  # a stopped SparkContext has nothing left to cancel
                log.exception("cancelling the Spark jobs of task run %s failed", task.run_id)
        if task.thread is not None:
            task.thread.interrupt()

    def _await_jobs_gone(self, task: TaskRun) -> None:
        """Spark reports a cancelled job's end asynchronously: wait until the task's jobs are gone."""
        if self._spark is None:
            return
        tracker = self._spark.sparkContext.statusTracker()

        def still_active() -> set[int]:
            return set(tracker.getActiveJobsIds()).intersection(tracker.getJobIdsForGroup(task.job_group))

        try:
            poll(
                still_active,
                until=lambda jobs: not jobs,
                timeout=JOBS_GONE_SECONDS,
                interval=0.1,
                what="jobs",
            )
        except PollTimeoutError:
            log.warning("Spark jobs of task run %s still active after its cancel", task.run_id)

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel what is still going, wait for the runs to end, then stop the SparkSession and its
        JVM if this runner started them.

        ``timeout`` (seconds) bounds the wait for the runs (a queued one is dropped, a task still
        running then is abandoned, as is a session still starting) and for the JVM's exit (killed
        then); ``None`` waits for every run and up to :data:`JVM_EXIT_SECONDS` for the JVM.
        """
        for run in list(self._runs.values()):
            self._stop(run, Result.CANCELED)
        if timeout is None:
            self._executor.shutdown(wait=True)
            self._stop_session()
            return
        deadline = time.monotonic() + timeout
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pending = list(self._pending)
        if wait(pending, timeout=timeout).not_done:
            log.warning("runner work still going after %.0f s: abandoned", timeout)
        self._stop_session(max(deadline - time.monotonic(), 1.0))


def _timer(seconds: int, action: Callable[[], None]) -> threading.Timer:
    """A started daemon timer calling ``action`` after ``seconds`` (never, for 0). ``seconds`` is
    capped at what a lock's timeout can hold (Jobs API timeouts are int32 seconds, far below it)."""
    timer = threading.Timer(min(seconds, threading.TIMEOUT_MAX), action)
    timer.daemon = True
    if seconds > 0:
        timer.start()
    return timer


_argv_lock = threading.Lock()


def run_wheel_task(wheel: jobs.PythonWheelTask) -> None:
    """Call a wheel's entry point the way Databricks does: ``sys.argv`` = package name + parameters,
    or + ``--<key>=<value>`` for each named parameter."""
    package, entry_name = wheel.package_name, wheel.entry_point
    try:
        distribution = metadata.distribution(package)
    except metadata.PackageNotFoundError as err:
        raise ModuleNotFoundError(f"wheel package {package!r} is not installed on the cluster") from err
    matches = [ep for ep in distribution.entry_points if ep.name == entry_name]
    if not matches:
        raise LookupError(f"package {package!r} has no entry point {entry_name!r}")
    function = matches[0].load()
    with _argv_lock:
        saved = sys.argv
        named = [f"--{key}={value}" for key, value in (wheel.named_parameters or {}).items()]
        sys.argv = [package, *(wheel.parameters or []), *named]
        try:
            function()
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                raise RuntimeError(f"entry point {entry_name!r} exited with status {exit_.code}") from exit_
        finally:
            sys.argv = saved


# --- HTTP ----------------------------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    return parse_json_body(await request.body())


async def _params(request: Request) -> dict[str, Any]:
    """Databricks GET parameters come as a query string (sync hook, SDK) or a JSON body (async hook)."""
    return dict(request.query_params) | await _body(request)


def _error(status: int, code: str | int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def _refused_credentials(authorization: str, token: str | None) -> JSONResponse | None:
    """401 without a bearer token (whatever the mode), 403 (with a numeric ``error_code``) for one
    that is not ``token``, as Databricks answers; ``None`` if the request may go on."""
    scheme, _, sent = authorization.partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        message = "Credential was not sent or was of an unsupported type for this API."
        return _error(401, "UNAUTHENTICATED", message)
    if token and sent != token:
        return _error(403, 403, "Invalid access token.")
    return None


def create_app(service: LocalDatabricks, token: str | None = None) -> FastAPI:
    app = FastAPI(title="local databricks jobs api")

    @app.exception_handler(ApiError)
    async def refused(_: Request, err: ApiError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def no_such_endpoint(request: Request, err: StarletteHTTPException) -> Response:
        """No route: 404 ``ENDPOINT_NOT_FOUND`` "No API found for '<METHOD> <path>'", as Databricks
        answers (also for a wrong method on a Jobs or Clusters endpoint)."""
        path = request.url.path
        ours = path.split("/", 3)[-1].startswith(("jobs/", "clusters/"))
        if path.startswith("/api/") and (err.status_code == 404 or (err.status_code == 405 and ours)):
            api_path = "/" + path.split("/", 3)[-1]
            return _error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{request.method} {api_path}'")
        return await http_exception_handler(request, err)

    @app.middleware("http")
    async def count_and_authenticate(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if not path.startswith("/api/"):
            return await call_next(request)
        endpoint = path.split("/", 3)[-1].removeprefix("jobs/")  # e.g. runs/submit, clusters/create
        service.api_calls[endpoint] += 1
        refusal = _refused_credentials(request.headers.get("authorization", ""), token)
        if refusal is not None:
            return refusal
        response = await call_next(request)
        if service.http_faults[endpoint] > 0:  # the work is done, the answer is lost
            service.http_faults[endpoint] -= 1
            return _error(503, "TEMPORARILY_UNAVAILABLE", f"injected 503 on {endpoint}")
        return response

    async def create_cluster(request: Request) -> JSONResponse:
        return JSONResponse(service.create_cluster(parse_create_cluster(await _body(request))))

    async def get_cluster(request: Request) -> JSONResponse:
        cluster_id = parse_cluster_id(await _params(request), compute.ClustersAPI.get)
        return JSONResponse(service.get_cluster(cluster_id))

    async def delete_cluster(request: Request) -> JSONResponse:
        cluster_id = parse_cluster_id(await _body(request), compute.ClustersAPI.delete)
        service.delete_cluster(cluster_id, permanently=False)
        return JSONResponse({})

    async def permanent_delete_cluster(request: Request) -> JSONResponse:
        cluster_id = parse_cluster_id(await _body(request), compute.ClustersAPI.permanent_delete)
        service.delete_cluster(cluster_id, permanently=True)
        return JSONResponse({})

    async def submit(request: Request) -> JSONResponse:
        return JSONResponse(service.submit(parse_submit_run(await _body(request))))

    async def get(request: Request) -> JSONResponse:
        return JSONResponse(service.get(parse_run_id(await _params(request), jobs.JobsAPI.get_run)))

    async def get_output(request: Request) -> JSONResponse:
        run_id = parse_run_id(await _params(request), jobs.JobsAPI.get_run_output)
        return JSONResponse(service.get_output(run_id))

    async def cancel(request: Request) -> JSONResponse:
        service.cancel(parse_run_id(await _body(request), jobs.JobsAPI.cancel_run))
        return JSONResponse({})

    async def me() -> JSONResponse:
        return JSONResponse(service.current_user())

    routes: list[tuple[str, tuple[str, ...], str, Callable[..., Any]]] = [
        ("POST", CLUSTERS_VERSIONS, "clusters/create", create_cluster),
        ("GET", CLUSTERS_VERSIONS, "clusters/get", get_cluster),
        ("POST", CLUSTERS_VERSIONS, "clusters/delete", delete_cluster),
        ("POST", CLUSTERS_VERSIONS, "clusters/permanent-delete", permanent_delete_cluster),
        ("POST", JOBS_VERSIONS, "jobs/runs/submit", submit),
        ("GET", JOBS_VERSIONS, "jobs/runs/get", get),
        ("GET", JOBS_VERSIONS, "jobs/runs/get-output", get_output),
        ("POST", JOBS_VERSIONS, "jobs/runs/cancel", cancel),
        ("GET", ("2.0",), "preview/scim/v2/Me", me),
    ]
    for method, versions, endpoint, handler in routes:
        for version in versions:
            app.add_api_route(f"/api/{version}/{endpoint}", handler, methods=[method])

    @app.post("/local/faults")
    async def faults(request: Request) -> JSONResponse:
        return JSONResponse(service.set_faults(await _body(request)))

    @app.delete("/local/faults")
    async def clear_faults() -> JSONResponse:
        return JSONResponse(service.clear_faults())

    @app.get("/local/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(service.stats())

    @app.get("/local/runs")
    async def runs(entry_point: str) -> JSONResponse:
        return JSONResponse({"runs": service.runs_of(entry_point)})

    app.include_router(files_router())
    return app


class RunnerServer:
    """The runner's HTTP server on ``host`` (127.0.0.1 by default), in a background thread."""

    def __init__(
        self, service: LocalDatabricks, port: int, token: str | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.service = service
        self.port = port
        config = uvicorn.Config(create_app(service, token), host=host, port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="local-databricks-http", daemon=True)

    def start(self) -> RunnerServer:
        """Serve in the background; return once listening.

        Raises:
            RuntimeError: the server thread ended, or it was not listening after
                :data:`SERVER_START_SECONDS`.
        """
        self._thread.start()

        def listening() -> bool:
            if not self._thread.is_alive():
                raise RuntimeError(f"local Databricks runner did not start on port {self.port}")
            return bool(self._server.started)

        try:
            poll(listening, timeout=SERVER_START_SECONDS, interval=0.05, what="the runner's HTTP server")
        except PollTimeoutError as error:
            raise RuntimeError(f"local Databricks runner did not start on port {self.port}") from error
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop serving, then :meth:`LocalDatabricks.shutdown` (``timeout``: see there)."""
        self._server.should_exit = True
        self._thread.join(timeout=10 if timeout is None else min(timeout, 10))
        self.service.shutdown(timeout)


def main() -> None:
    from local_stack.spark import build_local_spark

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--gcs-url", required=True, help="GCS emulator URL, e.g. http://127.0.0.1:9023")
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument(
        "--token", default=None, help="require this bearer token (without it, any bearer token is accepted)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = LocalDatabricks(
        lambda: build_local_spark(args.gcs_url, args.warehouse), f"http://127.0.0.1:{args.port}"
    )
    server = RunnerServer(service, args.port, args.token, args.host).start()
    service.warm_up()  # the JVM starts now, not in the first run
    print(f"local Databricks runner on http://{args.host}:{args.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

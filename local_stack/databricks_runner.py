"""A local stand-in for the part of the Databricks Jobs API (2.1/2.2) the Airflow provider uses.

It really executes each submitted ``python_wheel_task``: the entry point of the installed wheel
package is called in this process on one warm local SparkSession (as a Databricks cluster runs a
wheel task in its driver), one task at a time. States, errors and run output are reported in the
shapes Databricks uses, so the provider's operators, hooks and triggers work unchanged.

Endpoints: ``jobs/runs/submit``, ``jobs/runs/get``, ``jobs/runs/get-output``, ``jobs/runs/cancel``,
``clusters/create``, ``clusters/get``, ``clusters/delete``, ``clusters/permanent-delete``, plus
``/local/stats`` (cluster starts and API calls, for tests and benchmarks) and ``/local/faults``
(answer the next N calls of an endpoint with an HTTP error *after* doing the work, as a lost
response would; or fail the next N runs of an entry point), for failure tests.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = logging.getLogger("local_databricks")

TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


class InvalidRequestError(ValueError):
    """The request is one Databricks would refuse with ``INVALID_PARAMETER_VALUE``."""


class InjectedFailureError(RuntimeError):
    """A task failure asked for through ``/local/faults``."""


@dataclass
class Cluster:
    cluster_id: str
    spec: dict[str, Any]
    state: str = "RUNNING"  # the local "cluster" is the warm SparkSession: it starts at once
    deleted: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "cluster_name": self.spec.get("cluster_name", ""),
            "spark_version": self.spec.get("spark_version", ""),
            "state": self.state,
            "custom_tags": self.spec.get("custom_tags", {}),
        }


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TaskRun:
    run_id: int
    task_key: str
    spec: dict[str, Any]
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    error: str | None = None
    error_trace: str | None = None
    start_time: int = 0
    end_time: int = 0

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "life_cycle_state": self.life_cycle_state,
            "state_message": self.state_message,
            "user_cancelled_or_timedout": False,
        }
        if self.result_state:
            state["result_state"] = self.result_state
        return state

    def describe(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "task_key": self.task_key,
            "state": self.state(),
            "attempt_number": 0,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "python_wheel_task": self.spec.get("python_wheel_task"),
        }


@dataclass
class Run:
    run_id: int
    run_name: str
    tasks: list[TaskRun]
    start_time: int = field(default_factory=_now_ms)
    end_time: int = 0
    cancel_requested: bool = False

    def state(self) -> dict[str, Any]:
        states = [task.life_cycle_state for task in self.tasks]
        if any(state in ("PENDING", "RUNNING") for state in states):
            life = "RUNNING" if "RUNNING" in states or "TERMINATED" in states else "PENDING"
            return {"life_cycle_state": life, "state_message": "", "user_cancelled_or_timedout": False}
        failed = [task for task in self.tasks if task.result_state not in ("SUCCESS", None)]
        if not failed:
            return {
                "life_cycle_state": "TERMINATED",
                "result_state": "SUCCESS",
                "state_message": "",
                "user_cancelled_or_timedout": False,
            }
        first = failed[0]
        result = "CANCELED" if first.result_state == "CANCELED" else "FAILED"
        message = (
            f"Task {first.task_key} failed with message: {first.error}. "
            "This caused all downstream tasks to get skipped."
            if result == "FAILED"
            else "Run cancelled."
        )
        return {
            "life_cycle_state": "TERMINATED",
            "result_state": result,
            "state_message": message,
            "user_cancelled_or_timedout": result == "CANCELED",
        }


class LocalDatabricks:
    """Run bookkeeping and execution; the HTTP layer is :func:`create_app`."""

    def __init__(self, spark_factory: Callable[[], Any], base_url: str = "http://127.0.0.1") -> None:
        self._spark_factory = spark_factory
        self._spark: Any = None
        self._base_url = base_url
        self._ids = itertools.count(1)
        self._runs: dict[int, Run] = {}
        self._task_runs: dict[int, TaskRun] = {}
        self._tokens: dict[str, int] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-cluster")
        self.cluster_starts = 0
        self.api_calls: Counter[str] = Counter()
        self._clusters: dict[str, Cluster] = {}
        self._cluster_tokens: dict[str, str] = {}
        self.http_faults: Counter[str] = Counter()  # endpoint -> responses still to replace by a 503
        self.task_faults: Counter[str] = Counter()  # entry point -> runs still to fail

    # --- API operations -------------------------------------------------------------------
    def submit(self, payload: dict[str, Any]) -> dict[str, Any]:
        tasks = payload.get("tasks") or []
        if not tasks:
            raise InvalidRequestError("A run must have at least one task in 'tasks'.")
        for spec in tasks:
            if "python_wheel_task" not in spec:
                raise InvalidRequestError(
                    f"Task {spec.get('task_key')!r}: only python_wheel_task is supported by the local runner."
                )
            wheel = spec["python_wheel_task"]
            if wheel.get("parameters") and wheel.get("named_parameters"):
                raise InvalidRequestError(  # Jobs API 2.2, PythonWheelTask: one or the other
                    f"Task {spec.get('task_key')!r}: python_wheel_task takes parameters or "
                    "named_parameters, not both."
                )
        token = payload.get("idempotency_token")
        with self._lock:
            if token and token in self._tokens:
                return {"run_id": self._tokens[token]}
            for spec in tasks:
                if "existing_cluster_id" in spec:
                    self._ensure_cluster_running(str(spec["existing_cluster_id"]))
            run = Run(
                run_id=next(self._ids),
                run_name=payload.get("run_name", "untitled"),
                tasks=[TaskRun(next(self._ids), spec.get("task_key", "task"), spec) for spec in tasks],
            )
            self._runs[run.run_id] = run
            for task in run.tasks:
                self._task_runs[task.run_id] = task
            if token:
                self._tokens[token] = run.run_id
            self.cluster_starts += self._clusters_needed(payload)
        self._executor.submit(self._execute, run)
        return {"run_id": run.run_id}

    def get(self, run_id: int) -> dict[str, Any]:
        run = self._runs.get(run_id)
        if run is None:
            task = self._task_runs.get(run_id)
            if task is None:
                raise KeyError(run_id)
            return task.describe() | {"run_page_url": self._page(run_id)}
        return {
            "job_id": 0,
            "run_id": run.run_id,
            "run_name": run.run_name,
            "run_type": "SUBMIT_RUN",
            "state": run.state(),
            "tasks": [task.describe() for task in run.tasks],
            "start_time": run.start_time,
            "end_time": run.end_time,
            "run_page_url": self._page(run.run_id),
        }

    def get_output(self, run_id: int) -> dict[str, Any]:
        task = self._task_runs.get(run_id)
        if task is None:
            if run_id in self._runs:
                raise InvalidRequestError(
                    "Retrieving the output of runs with multiple tasks is not supported. "
                    "Please retrieve the output of each individual task run instead."
                )
            raise KeyError(run_id)
        output: dict[str, Any] = {"metadata": task.describe()}
        if task.error is not None:
            output["error"] = task.error
            output["error_trace"] = task.error_trace
        return output

    def cancel(self, run_id: int) -> None:
        run = self._runs.get(run_id)
        if run is None:
            raise KeyError(run_id)
        run.cancel_requested = True

    def create_cluster(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``clusters/create``; a token whose cluster is not terminated returns that cluster."""
        if not spec.get("spark_version"):
            raise InvalidRequestError("Missing required field: spark_version")
        token = spec.get("idempotency_token")
        with self._lock:
            if token and token in self._cluster_tokens:
                return {"cluster_id": self._cluster_tokens[token]}
            cluster = Cluster(f"local-{next(self._ids):04d}", spec)
            self._clusters[cluster.cluster_id] = cluster
            if token:
                self._cluster_tokens[token] = cluster.cluster_id
            self.cluster_starts += 1
        return {"cluster_id": cluster.cluster_id}

    def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        return self._cluster(cluster_id).describe()

    def delete_cluster(self, cluster_id: str, permanently: bool) -> None:
        """``clusters/delete`` terminates; ``clusters/permanent-delete`` also forgets the cluster."""
        with self._lock:
            cluster = self._cluster(cluster_id)
            cluster.state, cluster.deleted = "TERMINATED", permanently
            for token, owner in list(self._cluster_tokens.items()):
                if owner == cluster_id:
                    del self._cluster_tokens[token]  # Databricks clears the token on termination

    def _cluster(self, cluster_id: str) -> Cluster:
        cluster = self._clusters.get(cluster_id)
        if cluster is None or cluster.deleted:
            raise InvalidRequestError(f"Cluster {cluster_id} does not exist")
        return cluster

    def _ensure_cluster_running(self, cluster_id: str) -> None:
        """A run on a terminated all-purpose cluster starts it again, as Databricks does."""
        cluster = self._cluster(cluster_id)
        if cluster.state == "TERMINATED":
            cluster.state = "RUNNING"
            self.cluster_starts += 1

    def stats(self) -> dict[str, Any]:
        return {
            "cluster_starts": self.cluster_starts,
            "api_calls": dict(self.api_calls),
            "runs": len(self._runs),
            "clusters_running": sum(1 for c in self._clusters.values() if c.state == "RUNNING"),
        }

    def runs_of(self, entry_point: str) -> list[dict[str, Any]]:
        """Every run of one entry point, oldest first, with its final state (for tests)."""
        return [
            {
                "run_id": run.run_id,
                "state": run.state(),
                "cluster": run.tasks[0].spec.get("existing_cluster_id"),
                "python_wheel_task": run.tasks[0].spec["python_wheel_task"],
            }
            for run in self._runs.values()
            if run.tasks and run.tasks[0].spec["python_wheel_task"]["entry_point"] == entry_point
        ]

    # --- execution -----------------------------------------------------------------------
    @staticmethod
    def _clusters_needed(payload: dict[str, Any]) -> int:
        """New clusters a submission starts: one per ``new_cluster`` task, one per shared job cluster."""
        shared = {spec["job_cluster_key"] for spec in payload.get("job_clusters", [])}
        own = sum(1 for spec in payload.get("tasks", []) if "new_cluster" in spec)
        return own + len(shared)

    def _page(self, run_id: int) -> str:
        return f"{self._base_url}/#job/0/run/{run_id}"

    def _session(self) -> Any:
        if self._spark is None:
            self._spark = self._spark_factory()
        return self._spark

    def _execute(self, run: Run) -> None:
        blocked = False
        for task in run.tasks:
            if blocked or run.cancel_requested:
                task.life_cycle_state = "SKIPPED"
                task.result_state = "CANCELED" if run.cancel_requested else "UPSTREAM_FAILED"
                continue
            task.life_cycle_state, task.start_time = "RUNNING", _now_ms()
            try:
                self._session()
                entry_point = task.spec["python_wheel_task"]["entry_point"]
                with self._lock:
                    injected = self.task_faults[entry_point] > 0
                    if injected:
                        self.task_faults[entry_point] -= 1
                if injected:
                    raise InjectedFailureError(f"failure of {entry_point} injected through /local/faults")
                run_wheel_task(task.spec["python_wheel_task"])
                task.result_state = "SUCCESS"
            except BaseException as err:  # a task failure is data to report, not a crash
                task.result_state = "FAILED"
                task.error = f"{type(err).__name__}: {err}"
                task.error_trace = traceback.format_exc()
                task.state_message = "Workload failed, see run output for details"
                log.error("task %s of run %s failed: %s", task.task_key, run.run_id, task.error)
                blocked = True
            finally:
                task.life_cycle_state, task.end_time = "TERMINATED", _now_ms()
        run.end_time = _now_ms()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


_argv_lock = threading.Lock()


def run_wheel_task(spec: dict[str, Any]) -> None:
    """Call a wheel's entry point the way Databricks does: ``sys.argv`` = package name + parameters,
    or + ``--<key>=<value>`` for each named parameter."""
    package, entry_name = spec["package_name"], spec["entry_point"]
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
        named = [f"--{key}={value}" for key, value in (spec.get("named_parameters") or {}).items()]
        sys.argv = [package, *spec.get("parameters", []), *named]
        try:
            function()
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                raise RuntimeError(f"entry point {entry_name!r} exited with status {exit_.code}") from exit_
        finally:
            sys.argv = saved


async def _params(request: Request) -> dict[str, Any]:
    """Databricks GET parameters come as a query string (sync hook) or a JSON body (async hook)."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body:
        params.update(json.loads(body))
    return params


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def create_app(service: LocalDatabricks, token: str | None = None) -> FastAPI:
    app = FastAPI(title="local databricks jobs api")

    @app.middleware("http")
    async def count_and_authenticate(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if not path.startswith("/api/"):
            return await call_next(request)
        endpoint = path.split("/", 3)[-1].removeprefix("jobs/")  # e.g. runs/submit, clusters/create
        service.api_calls[endpoint] += 1
        if token and request.headers.get("authorization") != f"Bearer {token}":
            return _error(401, "UNAUTHENTICATED", "Invalid access token.")
        response = await call_next(request)
        if service.http_faults[endpoint] > 0:  # the work is done, the answer is lost
            service.http_faults[endpoint] -= 1
            return _error(503, "TEMPORARILY_UNAVAILABLE", f"injected 503 on {endpoint}")
        return response

    @app.post("/api/{version}/clusters/create")
    async def create_cluster(request: Request) -> JSONResponse:
        try:
            return JSONResponse(service.create_cluster(await request.json()))
        except InvalidRequestError as err:
            return _error(400, "INVALID_PARAMETER_VALUE", str(err))

    @app.get("/api/{version}/clusters/get")
    async def get_cluster(request: Request) -> JSONResponse:
        try:
            return JSONResponse(service.get_cluster(str((await _params(request))["cluster_id"])))
        except InvalidRequestError as err:
            return _error(400, "INVALID_PARAMETER_VALUE", str(err))

    @app.post("/api/{version}/clusters/{action}")
    async def delete_cluster(action: str, request: Request) -> JSONResponse:
        if action not in ("delete", "permanent-delete"):
            return _error(404, "ENDPOINT_NOT_FOUND", f"clusters/{action} is not served by the local runner")
        try:
            service.delete_cluster(str((await request.json())["cluster_id"]), action == "permanent-delete")
        except InvalidRequestError as err:
            return _error(400, "INVALID_PARAMETER_VALUE", str(err))
        return JSONResponse({})

    @app.post("/local/faults")
    async def faults(request: Request) -> JSONResponse:
        """``{"http": {"runs/submit": 1}}`` and/or ``{"tasks": {"merge": 1}}``."""
        body = await request.json()
        service.http_faults.update(body.get("http", {}))
        service.task_faults.update(body.get("tasks", {}))
        return JSONResponse({"http": dict(service.http_faults), "tasks": dict(service.task_faults)})

    @app.post("/api/{version}/jobs/runs/submit")
    async def submit(request: Request) -> JSONResponse:
        try:
            return JSONResponse(service.submit(await request.json()))
        except InvalidRequestError as err:
            return _error(400, "INVALID_PARAMETER_VALUE", str(err))

    @app.get("/api/{version}/jobs/runs/get")
    async def get(request: Request) -> JSONResponse:
        run_id = int((await _params(request))["run_id"])
        try:
            return JSONResponse(service.get(run_id))
        except KeyError:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")

    @app.get("/api/{version}/jobs/runs/get-output")
    async def get_output(request: Request) -> JSONResponse:
        run_id = int((await _params(request))["run_id"])
        try:
            return JSONResponse(service.get_output(run_id))
        except KeyError:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
        except InvalidRequestError as err:
            return _error(400, "INVALID_PARAMETER_VALUE", str(err))

    @app.post("/api/{version}/jobs/runs/cancel")
    async def cancel(request: Request) -> JSONResponse:
        run_id = int((await request.json())["run_id"])
        try:
            service.cancel(run_id)
        except KeyError:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
        return JSONResponse({})

    @app.get("/local/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(service.stats())

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
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"local Databricks runner did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.service.shutdown()


def main() -> None:
    from local_stack.spark import build_local_spark

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--gcs-url", required=True, help="GCS emulator URL, e.g. http://127.0.0.1:9023")
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--token", default=None, help="require this bearer token")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = LocalDatabricks(
        lambda: build_local_spark(args.gcs_url, args.warehouse), f"http://127.0.0.1:{args.port}"
    )
    server = RunnerServer(service, args.port, args.token, args.host).start()
    print(f"local Databricks runner on http://{args.host}:{args.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

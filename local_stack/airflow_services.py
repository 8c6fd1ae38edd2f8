"""Airflow's four long-running services (api-server, scheduler, dag-processor, triggerer) on loopback.

Shared by ``make up`` and the live tests so both run Airflow the same way: LocalExecutor on the
SQLite database of their own ``AIRFLOW_HOME``, the simple auth manager with a fixed
``admin`` / ``admin`` login, every listening socket on 127.0.0.1 (the api-server is told so; the
scheduler's and triggerer's log servers, which would bind every interface, are not started: task
logs are local files the api-server reads), readiness polled through the REST API rather than
guessed with sleeps, and a clean stop (SIGTERM, then SIGKILL for the whole process group).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import urllib3
from airflow_client.client.exceptions import ApiException, NotFoundException

from local_stack.airflow_api import AirflowApi
from local_stack.polling import PollTimeoutError, poll
from local_stack.processes import descendants, end_processes

ADMIN_USER, ADMIN_PASSWORD = "admin", "admin"  # local-only login, documented in the README
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
# The api-server not answering yet: connection refused (urllib3 under the client, httpx for the
# execution API) or an error status while it starts.
NOT_UP_YET = (ApiException, urllib3.exceptions.HTTPError, httpx.HTTPError)


class ServiceStartError(RuntimeError):
    """A service exited or did not become ready in time; the message carries its log tail."""


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def migrate_db(env: dict[str, str], python: str = sys.executable) -> None:
    """``airflow db migrate`` for the Airflow home in ``env``: create or upgrade its metadata DB.

    ``python`` is the interpreter whose Airflow migrates it (another lane's venv: its own schema).
    Raises :class:`ServiceStartError` with the last 4,000 characters of Airflow's output if it fails.
    """
    done = subprocess.run(
        [python, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ServiceStartError(f"airflow db migrate failed:\n{(done.stdout + done.stderr)[-4000:]}")


class AirflowServices:
    """Start, watch and stop the services of one Airflow home.

    ``env`` comes from ``local_stack.airflow_env.airflow_env`` (connections, DAG settings); this
    class adds what the services themselves need: the home, the executor, the login and the
    api-server's address (tasks reach the execution API there).
    """

    def __init__(
        self, env: Mapping[str, str], home: Path, api_port: int, log_dir: Path | None = None
    ) -> None:
        self.home = home
        self.api_port = api_port
        self.url = f"http://127.0.0.1:{api_port}"
        self.log_dir = log_dir or home / "service-logs"
        self.passwords_file = home / "simple_auth_manager_passwords.json"
        # Airflow changes behaviour when it sees pytest's variables (tests start services too).
        self.env = {key: value for key, value in env.items() if not key.startswith("PYTEST_")} | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",  # user:role
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
        }
        # LocalExecutor forks `parallelism` workers up front (32 by default): 4 suit 2 cores.
        self.env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.api = AirflowApi(self.url, ADMIN_USER, ADMIN_PASSWORD)
        self.stop_grace = 20.0  # seconds: what start() gives stop() when it fails or is interrupted

    def commands(self) -> dict[str, list[str]]:
        airflow = [sys.executable, "-m", "airflow"]
        return {
            "api-server": [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
            "scheduler": [*airflow, "scheduler", "--skip-serve-logs"],
            "dag-processor": [*airflow, "dag-processor"],
            "triggerer": [*airflow, "triggerer", "--skip-serve-logs"],
        }

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"airflow-{service}.log"

    def prepare(self) -> None:
        """Create or upgrade the metadata DB and fix the admin password (before any service reads it)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.passwords_file.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        migrate_db(self.env)

    def start(self, timeout: float = 180) -> AirflowServices:
        """Migrate, start the four services and wait until the api-server reports all of them healthy."""
        self.prepare()
        try:
            for name, command in self.commands().items():
                log = self.log_file(name).open("ab")
                self._logs.append(log)
                # Own process group: stop() can then also end the workers each service forks.
                self.processes[name] = subprocess.Popen(
                    command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
                if name == "api-server":
                    # Tasks report to the execution API: a scheduler that queues one before the
                    # api-server listens fails its first try ("Connection refused").
                    self._wait_for_execution_api(timeout)
            self.wait_until_healthy(timeout)
        except BaseException:
            self.stop(self.stop_grace)
            raise
        return self

    def check_running(self) -> None:
        """Raise ``ServiceStartError`` with its log tail if a service has exited."""
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise ServiceStartError(
                    f"airflow {name} exited with {proc.returncode}; log tail of {self.log_file(name)}:\n"
                    + _tail(self.log_file(name))
                )

    def wait_until_healthy(self, timeout: float = 180) -> None:
        """Poll the health endpoint until every component is healthy; warm the execution API on the way.

        Raises:
            ServiceStartError: a service exited, or not all were healthy after ``timeout`` seconds
                (with each service's log tail).
        """
        deadline = time.monotonic() + timeout
        warmed = False

        def health() -> dict[str, Any]:
            nonlocal warmed
            self.check_running()
            answer = self.api.health()
            if not warmed:
                self._warm_execution_api(deadline - time.monotonic())
                warmed = True
            return answer

        def all_healthy(answer: dict[str, Any]) -> bool:
            return all((answer.get(c) or {}).get("status") == "healthy" for c in HEALTH_COMPONENTS)

        try:
            poll(health, until=all_healthy, timeout=timeout, interval=0.5, what="health", retry_on=NOT_UP_YET)
        except PollTimeoutError as error:
            raise ServiceStartError(
                f"Airflow at {self.url} not healthy: {error}\n"
                + "\n".join(f"--- {n} ---\n{_tail(self.log_file(n), 15)}" for n in self.processes)
            ) from None

    def _wait_for_execution_api(self, timeout: float) -> None:
        """Wait until the api-server answers its execution API (built on the first request).

        Raises:
            ServiceStartError: the api-server exited, or did not answer within ``timeout`` seconds.
        """

        def answer() -> bool:
            self.check_running()
            self._warm_execution_api(timeout)
            return True

        try:
            poll(answer, timeout=timeout, interval=0.5, what="the execution API", retry_on=NOT_UP_YET)
        except PollTimeoutError as error:
            raise ServiceStartError(
                f"Airflow api-server at {self.url} not answering: {error}\n"
                + _tail(self.log_file("api-server"), 15)
            ) from None

    def _warm_execution_api(self, timeout: float) -> None:
        """The api-server builds its execution API on the first request (~10 s on 2 cores).

        Made by the first task instead, that request times out and is retried, so the first task
        of the first run would take ~20 s longer than the others.
        """
        httpx.get(f"{self.url}/execution/health", timeout=max(timeout, 1), trust_env=False).raise_for_status()

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the dag-processor has serialized ``dag_id``; return the DAG.

        Raises:
            ServiceStartError: a service exited, a DAG file has an import error (its stack trace),
                or ``dag_id`` was not parsed after ``timeout`` seconds (the dag-processor's log tail).
        """

        def dag() -> dict[str, Any] | None:
            self.check_running()
            try:
                return self.api.dag(dag_id)
            except NotFoundException:
                errors = self.api.import_errors()
                if errors:
                    details = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)
                    raise ServiceStartError(f"DAG {dag_id} not loaded; import errors:\n{details}") from None
                return None

        try:
            found = poll(dag, until=lambda d: d is not None, timeout=timeout, interval=0.5, what=dag_id)
        except PollTimeoutError:
            raise ServiceStartError(
                f"DAG {dag_id} not parsed after {timeout:.0f} s; dag-processor log tail:\n"
                + _tail(self.log_file("dag-processor"))
            ) from None
        assert found is not None
        return found

    def stop(self, grace: float = 20) -> None:
        """SIGTERM the services, wait, then SIGKILL whatever they started: done in about ``grace``
        seconds (plus ~1 s for the kills), whatever state they are in.

        The api-server goes last, with the last third of ``grace`` at least: running tasks report
        their end through its execution API. Task processes call ``setsid``, so each service's
        process tree is read before the SIGTERMs and again before the SIGKILLs (``psutil``), and what
        is left of it is killed by identity. The REST client's pooled connections are closed.
        """
        leftovers = descendants([proc.pid for proc in self.processes.values()])
        deadline = time.monotonic() + grace
        last = ["api-server"]
        for group in ([name for name in self.processes if name not in last], last):
            procs = [self.processes[name] for name in group if name in self.processes]
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            until = deadline if group is last else deadline - grace / 3
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(until - time.monotonic(), 0.1))
        leftovers += descendants([proc.pid for proc in self.processes.values() if proc.poll() is None])
        for proc in self.processes.values():
            # The group id is the service's pid (start_new_session): only what we started.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        end_processes(leftovers, grace=0)  # task processes in sessions of their own
        self.processes.clear()
        self.api.close()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> AirflowServices:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

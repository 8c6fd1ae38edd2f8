"""Airflow 2's services from a lane's venv, on the test session's stack (``make lane-e2e-airflow-2.11``).

Airflow 2 has no api-server and no REST API v2: its scheduler parses the DAG files itself (and
checks SLAs there, in its DAG processor) and the triggerer runs deferred tasks. So this starts
``airflow scheduler`` and ``airflow triggerer`` of the lane's Python and reads runs and SLA misses
from the metadata DB (SQLite) directly.
SQLite allows Airflow 2 only the ``SequentialExecutor`` (one task at a time, in the scheduler).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from local_stack.airflow_services import ServiceStartError, migrate_db
from local_stack.polling import PollTimeoutError, poll
from local_stack.processes import descendants, end_processes

DAG_ID = "order_tracking_incremental_load"


class Airflow2Services:
    """``airflow scheduler`` and/or ``airflow triggerer`` of ``python`` (an Airflow 2 venv) on ``home``."""

    def __init__(self, python: str, env: Mapping[str, str], home: Path, services: Sequence[str]) -> None:
        self.python = python
        self.home = home
        self.services = tuple(services)
        self.database = home / "airflow.db"
        # Airflow changes behaviour when it sees pytest's variables.
        self.env = {key: value for key, value in env.items() if not key.startswith("PYTEST_")} | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.database}",
            "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",  # the only one Airflow 2 runs on SQLite
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",  # re-parse (and check SLAs) often
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
            # Airflow 2's executors start `airflow tasks run ...` by name: this venv's comes first.
            "PATH": f"{Path(python).parent}{os.pathsep}{env.get('PATH', os.defpath)}",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def log_file(self, service: str) -> Path:
        return self.home / f"airflow-{service}.log"

    def start(self, timeout: float = 180) -> Airflow2Services:
        """Migrate the metadata DB with this Airflow, start the services and, with a scheduler,
        wait until it has parsed the DAG.

        Raises:
            ServiceStartError: a service exited, the DAG file has an import error, or the DAG was not
                parsed within ``timeout`` seconds (with the log tails).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        migrate_db(self.env, self.python)
        try:
            for name in self.services:
                log = self.log_file(name).open("ab")
                self._logs.append(log)
                self.processes[name] = subprocess.Popen(
                    [self.python, "-m", "airflow", name],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if "scheduler" in self.services:
                self._wait_for_dag(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_dag(self, timeout: float) -> None:
        def parsed() -> bool:
            self.check_running()
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors:
                raise ServiceStartError(f"DAG {DAG_ID} not loaded; import errors: {errors}")
            return bool(self.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", DAG_ID))

        try:
            poll(parsed, timeout=timeout, interval=1, what=f"{DAG_ID} parsed", retry_on=(sqlite3.Error,))
        except PollTimeoutError as error:
            raise ServiceStartError(f"{error}\n{self.log_tail('scheduler')}") from None

    def check_running(self) -> None:
        """Raise ``ServiceStartError`` with its log tail if a service has exited."""
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                tail = self.log_tail(name)
                raise ServiceStartError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.log_file(service)
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of ``sql`` on the metadata DB, as dicts (read-only; Airflow may hold a write lock)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, args).fetchall()]

    def runs(self) -> list[dict[str, Any]]:
        """The DAG's runs, oldest first: run id, run type, state and logical date."""
        return self.query(
            "SELECT run_id, run_type, state, execution_date FROM dag_run WHERE dag_id = ? ORDER BY id", DAG_ID
        )

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """``airflow <args>`` of this Airflow, in the services' environment."""
        return subprocess.run(
            [self.python, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self, grace: float = 20) -> None:
        """SIGTERM the services, wait up to ``grace`` seconds, SIGKILL what is left of their trees."""
        leftovers = descendants([proc.pid for proc in self.processes.values()])
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        # task processes started since the first look (Airflow 2 gives them process groups of their own)
        leftovers += descendants([proc.pid for proc in self.processes.values() if proc.poll() is None])
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        end_processes(leftovers, grace=0)
        self.processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

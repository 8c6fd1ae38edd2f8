"""A real, long-running Airflow for the live tests, wired to the test session's emulator and runner.

Scheduler, triggerer and dag-processor behaviour (deadlines, deferrable sensors, callbacks, the UI)
cannot be seen under ``airflow dags test``; these tests run the four services as ``make up`` does
(:meth:`LocalStack.start_airflow`), on free loopback ports and a temporary ``AIRFLOW_HOME``, on the
session's :class:`~local_stack.local_stack.LocalStack` (its emulator and runner, so no second JVM).
Starting costs ~30 s, so one stack serves every test that asks for the same settings; other
settings restart it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from local_stack.airflow_api import TERMINAL_RUN_STATES, AirflowApi
from local_stack.airflow_services import AirflowServices
from local_stack.local_stack import LocalStack
from local_stack.polling import PollTimeoutError, poll

DAG_ID = "order_tracking_incremental_load"
ALERT_EMAIL = "oncall@example.test"
SLACK_CONN_ID = "slack_default"


@dataclass(frozen=True)
class LiveSettings:
    """What a test module may choose for its live stack (override the ``live_airflow_settings`` fixture)."""

    run_deadline_seconds: int = 15  # short, so a run that waits on its sensor misses it
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def key(self) -> tuple[int, tuple[tuple[str, str], ...]]:
        return self.run_deadline_seconds, tuple(sorted(self.env.items()))


@dataclass
class LiveAirflow:
    """A running stack: its REST client, UI address, environment and where its tables are."""

    services: AirflowServices
    settings: LiveSettings
    tables_root: Path
    started_in_seconds: float
    dag_id: str = DAG_ID

    @property
    def url(self) -> str:
        return self.services.url

    @property
    def api(self) -> AirflowApi:
        return self.services.api

    @property
    def env(self) -> dict[str, str]:
        return self.services.env

    def trigger_and_wait(
        self, conf: Mapping[str, Any] | None = None, timeout: float = 300, expect: str | None = "success"
    ) -> str:
        """Trigger the DAG through REST, wait for the run to end as ``expect``ed; return the run id."""
        run_id = self.api.trigger(self.dag_id, conf)
        self.api.wait_for_run(self.dag_id, run_id, timeout=timeout, expect=expect)
        return run_id

    def log_tail(self, service: str, lines: int = 60) -> str:
        """The tail of a service's log: ``scheduler``, ``triggerer``, ``dag-processor`` or ``api-server``."""
        path = self.services.log_file(service)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_for_quiet(api: AirflowApi, timeout: float = 120) -> None:
    """Let the scheduler's catch-up run of the daily schedule (nothing to load) end before tests start."""
    no_run_after = time.monotonic() + 20

    def quiet(runs: list[dict[str, Any]]) -> bool:
        if not runs:
            return time.monotonic() > no_run_after  # no catch-up run was created
        return all(run["state"] in TERMINAL_RUN_STATES for run in runs)

    try:
        poll(lambda: api.runs(DAG_ID), until=quiet, timeout=timeout, interval=1, what="the start-up run")
    except PollTimeoutError as error:
        raise AssertionError(f"the live stack's start-up run did not end: {error}") from None


def live_settings(smtp_connection: Mapping[str, Any], slack_connection: Mapping[str, Any]) -> dict[str, str]:
    """The live stack's settings on top of ``airflow_env``'s: alerts wired, runs only when triggered."""
    return {
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp_connection),
        "AIRFLOW_CONN_SLACK_DEFAULT": json.dumps(slack_connection),
        "ORDER_TRACKING_ALERT_EMAILS": ALERT_EMAIL,
        "ORDER_TRACKING_SLACK_CONN_ID": SLACK_CONN_ID,
        # Time-based, so backfills work; the scheduler's one catch-up run at start ends in seconds
        # (empty staging, short sensor timeout) and the next run would be tomorrow.
        "ORDER_TRACKING_SCHEDULE": "@daily",
        "ORDER_TRACKING_SENSOR_TIMEOUT_SECONDS": "20",  # outlasts the 15 s deadline
        "ORDER_TRACKING_SENSOR_POKE_SECONDS": "2",
    }


class LiveAirflowPool:
    """Keeps at most one live Airflow running on ``stack``: the one for the last settings asked for."""

    def __init__(
        self,
        make_dir: Callable[[str], Path],
        stack: LocalStack,
        smtp_connection: Mapping[str, Any],
        slack_connection: Mapping[str, Any],
    ) -> None:
        self._make_dir = make_dir
        self._stack = stack
        self._alerts = live_settings(smtp_connection, slack_connection)
        self._current: LiveAirflow | None = None

    def get(self, settings: LiveSettings) -> LiveAirflow:
        current = self._current
        if current is not None and current.settings.key() == settings.key():
            current.services.check_running()
            return current
        self.close()
        self._current = self._start(settings)
        return self._current

    def _start(self, settings: LiveSettings) -> LiveAirflow:
        started = time.monotonic()
        home, tables_root = self._make_dir("live-airflow"), self._make_dir("live-warehouse")
        env = self._alerts | {"ORDER_TRACKING_RUN_DEADLINE_SECONDS": str(settings.run_deadline_seconds)}
        services = self._stack.start_airflow(home, tables_root=tables_root, settings=env | dict(settings.env))
        try:
            services.wait_for_dag(DAG_ID)
            _wait_for_quiet(services.api)
        except BaseException:
            self._stack.stop_airflow()
            raise
        return LiveAirflow(services, settings, tables_root, round(time.monotonic() - started, 1))

    def close(self) -> None:
        self._current = None
        self._stack.stop_airflow()


def artifacts_dir() -> Path:
    """Where tests keep screenshots and the like: ``$TEST_ARTIFACTS_DIR`` or ``.local/test-artifacts``."""
    default = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts"
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path

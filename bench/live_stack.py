"""The local stack as ``make up`` runs it, for the end-to-end sections (4, latency; 5, orchestration).

GCS emulator, local Databricks runner and Airflow's four services (api-server, scheduler,
dag-processor, triggerer; LocalExecutor) wired by ``local_stack``'s own pieces, so the benchmark
measures what a user runs. Everything listens on free loopback ports and lives in temporary folders:
a user's ``make up`` (ports 8080 / 9023 / 8089, ``.local/``) is never touched. The runner executes
Spark in this process on the benchmark's SparkSession, which is why the emulator must exist before
that session is built (``gcs_url``): the GCS connector reads its root URL once, at session start.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from local_stack.airflow_api import AirflowApi
from local_stack.airflow_env import LOCAL_TOKEN, LocalStackAddresses, airflow_env, free_port
from local_stack.airflow_services import AirflowServices
from local_stack.databricks_runner import LocalDatabricks, RunnerServer
from local_stack.gcs_emulator import emulator_client

# The Spark jobs' entry points configure INFO logging in this process; the REST polls are noise.
logging.getLogger("httpx").setLevel(logging.WARNING)

BUCKET = "tracking_orders"
DAG_ID = "order_tracking_incremental_load"
STACK_SECTIONS = ("latency", "orchestration")  # the sections that need a LiveStack
LATENCY_SETTINGS = (
    "ORDER_TRACKING_SCHEDULE",
    "ORDER_TRACKING_SENSOR_POKE_SECONDS",
    "ORDER_TRACKING_SENSOR_TIMEOUT_SECONDS",
    "ORDER_TRACKING_DATABRICKS_POLL_SECONDS",
    "ORDER_TRACKING_MAX_OBJECTS_PER_RUN",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__PARALLELISM",
)


@dataclass(frozen=True)
class LiveStack:
    """A running local stack, as the end-to-end sections drive it.

    ``scheduled``: the DAG runs on its local schedule (every minute) and the benchmark only uploads;
    otherwise (smoke mode, or the live tests' stack, whose schedule has no run due) it triggers one run
    per upload through the REST API, which skips the wait for the schedule.
    """

    api: AirflowApi
    bucket: Any  # google.cloud.storage.Bucket on the emulator
    runner: LocalDatabricks
    tables_root: Path  # ORDER_TRACKING_TABLES_ROOT: the Delta path tables
    env: Mapping[str, str]  # the services' environment (the DAG's settings are read from it)
    scheduled: bool
    check_running: Callable[[], None]  # raises, with a log tail, if a service died
    started_in_seconds: float | None = None
    dag_id: str = DAG_ID

    def settings(self) -> dict[str, str]:
        """The settings that shape the latency (schedule, sensor, Databricks poll, executor), for the page."""
        return {k: self.env[k] for k in LATENCY_SETTINGS if k in self.env}


StackFactory = Callable[[], AbstractContextManager[LiveStack]]


@contextmanager
def local_stack(spark: SparkSession, gcs_url: str, scheduled: bool) -> Iterator[LiveStack]:
    """Start runner and Airflow against the emulator at ``gcs_url``; stop them on exit.

    The emulator itself is the caller's (it had to start before ``spark``).
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        home, tables_root = Path(tmp) / "airflow", Path(tmp) / "warehouse"
        tables_root.mkdir()
        runner_port, api_port = free_port(), free_port()
        service = LocalDatabricks(lambda: spark, f"http://127.0.0.1:{runner_port}")
        runner = RunnerServer(service, runner_port, LOCAL_TOKEN).start()
        try:
            stack = LocalStackAddresses(gcs_url, runner_port, tables_root)
            env = airflow_env(home, stack, api_port=api_port)
            if not scheduled:
                env["ORDER_TRACKING_SCHEDULE"] = "none"
            services = AirflowServices(env, home, api_port).start()
            try:
                services.wait_for_dag(DAG_ID)
                yield LiveStack(
                    api=services.api,
                    bucket=emulator_client(gcs_url).bucket(BUCKET),
                    runner=service,
                    tables_root=tables_root,
                    env=services.env,
                    scheduled=scheduled,
                    check_running=services.check_running,
                    started_in_seconds=round(time.monotonic() - started, 1),
                )
            finally:
                services.stop()
        finally:
            runner.stop()

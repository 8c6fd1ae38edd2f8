"""The local stack as ``make up`` runs it, for the end-to-end sections (4, latency; 5, orchestration).

GCS emulator, local Databricks runner and Airflow's four services (api-server, scheduler,
dag-processor, triggerer; LocalExecutor) started by :class:`~local_stack.local_stack.LocalStack`,
as ``make up`` starts them, so the benchmark measures what a user runs. Everything listens on free
loopback ports and lives in temporary folders: a user's ``make up`` (ports 8080 / 9023 / 8089,
``.local/``) is never touched. The runner executes
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
from local_stack.gcs_emulator import emulator_client
from local_stack.local_stack import LocalStack
from local_stack.runner_client import RunnerClient
from local_stack.settings import BUCKET, DAG_ID

# The Spark jobs' entry points configure INFO logging in this process; the REST polls are noise.
logging.getLogger("httpx").setLevel(logging.WARNING)

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
    runner: RunnerClient  # the runner over HTTP: stats(), runs_of(entry point), get(run id)
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

    The emulator and ``spark`` are the caller's (the emulator had to start before ``spark``).
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        home, tables_root = Path(tmp) / "airflow", Path(tmp) / "warehouse"
        tables_root.mkdir()
        settings = {} if scheduled else {"ORDER_TRACKING_SCHEDULE": "none"}
        with LocalStack(
            tables_root,
            gcs_url=gcs_url,
            spark=spark,
            airflow_home=home,
            with_airflow=True,
            airflow_settings=settings,
        ) as stack:
            assert stack.services is not None
            stack.services.wait_for_dag(DAG_ID)
            yield LiveStack(
                api=stack.services.api,
                bucket=emulator_client(gcs_url).bucket(BUCKET),
                runner=stack.runner,
                tables_root=tables_root,
                env=stack.services.env,
                scheduled=scheduled,
                check_running=stack.services.check_running,
                started_in_seconds=round(time.monotonic() - started, 1),
            )

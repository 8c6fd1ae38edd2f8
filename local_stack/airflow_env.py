"""The environment a local Airflow needs to run the real DAG against the local stack.

Only Airflow connections and ``ORDER_TRACKING_*`` settings differ from Composer: the DAG file,
the plugins package and the Spark jobs are the production ones.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOCAL_DIR = REPO / ".local"
LOCAL_TOKEN = "local-dev-token"  # the local runner's bearer token; not a secret (loopback only)
DEFAULT_API_PORT = 8080  # ``make up``'s UI port, documented in the README
# Where the local stack serves the feed and which connections reach it: the DAG must use these here,
# whatever the shell exports (deploy-pubsub reads ORDER_TRACKING_BUCKET and _STAGING_PREFIX from it,
# so a developer may well have them set for production). The values are the DAG's defaults.
LOCAL_FEED = {
    "ORDER_TRACKING_BUCKET": "tracking_orders",
    "ORDER_TRACKING_STAGING_PREFIX": "staging_zn/",
    "ORDER_TRACKING_ARCHIVE_PREFIX": "archive/",
    "ORDER_TRACKING_QUARANTINE_PREFIX": "quarantine/",
    "ORDER_TRACKING_BATCHES_PREFIX": "_batches/",
    "ORDER_TRACKING_STATE_PREFIX": "_state/",
    "ORDER_TRACKING_GCP_CONN_ID": "google_cloud_default",
    "ORDER_TRACKING_DATABRICKS_CONN_ID": "databricks_default",
    # The local stack does not run the Pub/Sub emulator for the DAG yet: runs start on the schedule.
    "ORDER_TRACKING_TRIGGER": "schedule",
}
# How the local DAG runs: a run every minute that waits under a minute, and a quick Databricks poll.
LOCAL_RUN_SETTINGS = {
    "ORDER_TRACKING_DATABRICKS_POLL_SECONDS": "2",
    "ORDER_TRACKING_SENSOR_POKE_SECONDS": "5",
    "ORDER_TRACKING_SENSOR_TIMEOUT_SECONDS": "55",
    "ORDER_TRACKING_SCHEDULE": "*/1 * * * *",
}
TABLES_ROOT = "ORDER_TRACKING_TABLES_ROOT"  # the stack's own warehouse folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalStackAddresses:
    gcs_url: str
    databricks_port: int
    warehouse: Path


def google_connection() -> dict[str, Any]:
    """An anonymous Google connection: the client then follows ``STORAGE_EMULATOR_HOST``."""
    return {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "local"}}


def databricks_connection(port: int, token: str = LOCAL_TOKEN) -> dict[str, Any]:
    """A Databricks connection to the local runner on ``port`` (plain HTTP on loopback)."""
    return {"conn_type": "databricks", "host": "127.0.0.1", "port": port, "schema": "http", "password": token}


def overridden_feed_notes(environ: Mapping[str, str] | None = None) -> list[str]:
    """One note for each setting of the shell that the local stack replaces (:data:`LOCAL_FEED`,
    :data:`LOCAL_RUN_SETTINGS`, the tables root) with another value: said out loud, rather than a
    run looking in the wrong place, or on another schedule, in silence."""
    env = os.environ if environ is None else environ
    replaced = {**LOCAL_FEED, **LOCAL_RUN_SETTINGS, TABLES_ROOT: "the stack's own warehouse folder"}
    return [
        f"note: {name}={env[name]!r} from your shell is not used here; the local stack uses "
        + (value if name == TABLES_ROOT else repr(value))
        for name, value in replaced.items()
        if env.get(name, value) != value
    ]


def dag_settings_problem(settings: Mapping[str, str] | None = None) -> str | None:
    """Why the DAG would refuse the ``ORDER_TRACKING_*`` settings the local stack gives it (the
    shell's, with :data:`LOCAL_FEED`, :data:`LOCAL_RUN_SETTINGS` and ``settings`` on top), or
    ``None``: checked before anything starts, instead of an import error deep in a DAG run's log."""
    if str(REPO / "plugins") not in sys.path:
        sys.path.insert(0, str(REPO / "plugins"))  # as Airflow does for its plugins folder
    from order_tracking.config import ConfigError, PipelineConfig
    from order_tracking.run_start import check_schedules

    try:
        check_schedules(
            PipelineConfig.from_env({**os.environ, **LOCAL_FEED, **LOCAL_RUN_SETTINGS, **(settings or {})})
        )
    except ConfigError as error:
        return f"the DAG would not load: {error}"
    return None


def airflow_env(
    airflow_home: Path, stack: LocalStackAddresses, api_port: int = DEFAULT_API_PORT
) -> dict[str, str]:
    """``os.environ`` plus what Airflow and the DAG need to use the local stack.

    ``api_port`` is where the api-server listens; task processes reach the execution API there, so
    tests can run a second Airflow next to ``make up`` on a free port.
    """
    google_conn, databricks_conn = google_connection(), databricks_connection(stack.databricks_port)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(google_conn),
            "AIRFLOW_CONN_DATABRICKS_DEFAULT": json.dumps(databricks_conn),
            **LOCAL_FEED,
            "STORAGE_EMULATOR_HOST": stack.gcs_url,
            TABLES_ROOT: str(stack.warehouse),
            **LOCAL_RUN_SETTINGS,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env

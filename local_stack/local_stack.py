"""One local stack: GCS emulator, local Databricks runner, the Airflow environment wired to both,
and, optionally, Airflow's four services. ``make run``, ``make up``, the tests, the live tests and
the benchmark all start it here, the same way.

::

    with LocalStack(warehouse, airflow_home=home, with_airflow=True) as stack:
        stack.gcs_url            # http://127.0.0.1:<port> (the emulator; bucket ``tracking_orders``)
        stack.runner             # RunnerClient: the runner over HTTP (/local/stats, runs, faults)
        stack.env                # os.environ + what Airflow and the DAG need to use this stack
        stack.services           # AirflowServices (api-server, scheduler, ...) or None
        stack.spark_session()    # the SparkSession the runner executes tasks on

The SparkSession is the local "cluster": built on first use (by a run, or :meth:`spark_session`)
from ``spark_factory(gcs_url, warehouse)``, after the emulator is up (the GCS connector reads its
URL once, at session start), and stopped with its JVM when the stack stops. A caller that already
has a session passes it as ``spark`` (with ``gcs_url``, the emulator it was built for): the stack
then leaves both running.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from local_stack.airflow_env import LOCAL_TOKEN, LocalStackAddresses, airflow_env, free_port
from local_stack.airflow_services import AirflowServices, ServiceStartError, migrate_db
from local_stack.databricks_runner import LocalDatabricks, RunnerServer
from local_stack.gcs_emulator import FinalizeNotifications, GcsEmulator
from local_stack.runner_client import RunnerClient
from local_stack.settings import BUCKET, DAG_ID

SparkFactory = Callable[[str, Path], Any]  # (emulator URL, warehouse) -> SparkSession


def _build_spark(gcs_url: str, warehouse: Path) -> Any:
    from local_stack.spark import build_local_spark

    return build_local_spark(gcs_url, warehouse)


class LocalStack:
    """Start, hand out and stop the local stack (a context manager; ``start``/``stop`` also work).

    Ports left ``None`` are free loopback ports. ``airflow_home`` is needed for :attr:`env` and
    the services; ``with_airflow`` starts the services on entry (also :meth:`start_airflow`).
    ``airflow_settings`` are added to :attr:`env` (e.g. ``ORDER_TRACKING_SCHEDULE``).
    ``stop_timeout``: the bound :meth:`stop` gets when the ``with`` block ends (``None``: no bound).
    """

    def __init__(
        self,
        warehouse: Path,
        *,
        gcs_port: int | None = None,
        gcs_url: str | None = None,
        gcs_dir: Path | None = None,
        bucket: str = BUCKET,
        databricks_port: int | None = None,
        airflow_home: Path | None = None,
        api_port: int | None = None,
        with_airflow: bool = False,
        airflow_settings: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        spark: Any = None,
        spark_factory: SparkFactory = _build_spark,
        stop_timeout: float | None = None,
    ) -> None:
        if gcs_url is not None and gcs_port is not None:
            raise ValueError("gcs_url names a running emulator; gcs_port is for the stack's own one")
        self.warehouse = warehouse
        self.bucket = bucket
        self._emulator = None if gcs_url else GcsEmulator(gcs_port or free_port(), bucket, data_dir=gcs_dir)
        self.gcs_url = gcs_url or self._emulator.url  # type: ignore[union-attr]
        self.databricks_port = databricks_port or free_port()
        self.databricks_url = f"http://127.0.0.1:{self.databricks_port}"
        self.airflow_home = airflow_home
        self.api_port = api_port or free_port()
        self.log_dir = log_dir
        self._with_airflow = with_airflow
        self.stop_timeout = stop_timeout  # what leaving the ``with`` block passes to stop()
        self._settings = dict(airflow_settings or {})
        self._spark, self._own_spark = spark, spark is None
        self._spark_factory = spark_factory
        self._spark_lock = threading.Lock()
        self._stopping = False  # set by stop(): no session is built from then on
        self._server: RunnerServer | None = None
        self.services: AirflowServices | None = None
        self.runner = RunnerClient(self.databricks_port, LOCAL_TOKEN)

    # --- what callers use -------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` plus the Airflow and DAG settings for this stack (``airflow_env``) and
        ``airflow_settings``. Raises ``ValueError`` without an ``airflow_home``."""
        if self.airflow_home is None:
            raise ValueError("this LocalStack has no airflow_home")
        return self.env_for(self.airflow_home, self.api_port)

    def env_for(
        self,
        airflow_home: Path,
        api_port: int,
        tables_root: Path | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of another Airflow on this stack's emulator and runner (the live tests
        start several, one after the other): its own home, api-server port and tables."""
        addresses = LocalStackAddresses(self.gcs_url, self.databricks_port, tables_root or self.warehouse)
        return airflow_env(airflow_home, addresses, api_port=api_port) | self._settings | dict(settings or {})

    def spark_session(self) -> Any:
        """The stack's SparkSession, built on first call (thread-safe; the runner calls this too).

        Raises:
            RuntimeError: the stack is stopping (a run then fails as on a cluster that is going).
        """
        with self._spark_lock:
            if self._spark is None:
                if self._stopping:
                    raise RuntimeError("the local stack is stopping: no SparkSession is started")
                self._spark = self._spark_factory(self.gcs_url, self.warehouse)
            return self._spark

    def send_finalize_notifications(self, notifications: FinalizeNotifications | None) -> None:
        """Have the stack's GCS emulator publish Cloud Storage's ``OBJECT_FINALIZE`` notifications
        (``None``: stop); the ``events`` mode's watcher pulls them (tests/live/test_event_driven.py).

        Raises:
            ValueError: the stack uses an emulator it did not start (``gcs_url``).
        """
        if self._emulator is None:
            raise ValueError("this LocalStack uses an emulator it did not start: configure that one")
        self._emulator.send_notifications(notifications)

    def migrate_airflow_db(self, python: str = sys.executable) -> None:
        """Create or upgrade the metadata DB of ``airflow_home`` (for ``airflow dags test``), with
        the Airflow of ``python`` (a lane's venv for another Airflow line).

        Raises:
            ServiceStartError: ``airflow db migrate`` failed (its output's tail is in the message).
        """
        migrate_db(self.env, python)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> LocalStack:
        """Emulator, then runner, then (``with_airflow``) the services; whatever started is stopped
        again if a later step fails or is interrupted.

        Raises:
            ServiceStartError: an Airflow service exited or was not healthy in time.
            RuntimeError: the runner's HTTP server did not start.
        """
        try:
            if self._emulator is not None:
                self._emulator.start()
            service = LocalDatabricks(self.spark_session, self.databricks_url, owns_spark=False)
            self._server = RunnerServer(service, self.databricks_port, LOCAL_TOKEN).start()
            if self._with_airflow:
                if self.airflow_home is None:
                    raise ValueError("with_airflow needs an airflow_home")
                self.start_airflow(self.airflow_home, self.api_port, log_dir=self.log_dir)
        except BaseException:
            self.stop(self.stop_timeout)
            raise
        return self

    def warm_up(self) -> None:
        """Start the SparkSession (and its JVM) now, in the runner's thread, not in the first run."""
        if self._server is not None:
            self._server.service.warm_up()

    def start_airflow(
        self,
        airflow_home: Path,
        api_port: int | None = None,
        tables_root: Path | None = None,
        settings: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> AirflowServices:
        """Start Airflow's services on this stack (after stopping any running ones); return them.

        Raises:
            ServiceStartError: a service exited or was not healthy in time (all are stopped).
        """
        self.stop_airflow()
        port = api_port or free_port()
        env = self.env_for(airflow_home, port, tables_root, settings)
        services = AirflowServices(env, airflow_home, port, log_dir)
        if self.stop_timeout is not None:
            services.stop_grace = self.stop_timeout / 2
        self.services = services.start()
        return services

    def stop_airflow(self, grace: float = 20) -> None:
        """Stop the services, if any (:meth:`AirflowServices.stop`: ``grace`` seconds, then SIGKILL)."""
        services, self.services = self.services, None
        if services is not None:
            services.stop(grace)

    def stop(self, timeout: float | None = None) -> None:
        """Stop everything this stack started: services, runner, SparkSession and JVM, emulator.

        ``timeout`` (seconds) bounds the whole stop: the services get half (SIGKILL after), the
        runner's runs and the JVM share the rest (abandoned or killed after). ``None``: the
        services get 20 s, runs are waited for, the JVM up to 30 s.
        """
        self._stopping = True
        deadline = None if timeout is None else time.monotonic() + timeout

        def left(share: float) -> float | None:
            return None if deadline is None else max((deadline - time.monotonic()) * share, 0.5)

        self.stop_airflow(left(0.5) or 20)
        server, self._server = self._server, None
        if server is not None:
            server.stop(left(0.4))
        # A session still being built (the runner's warm-up) holds the lock: with a deadline it is
        # left to the caller's process sweep (make up kills its children), never waited for.
        if self._spark_lock.acquire(timeout=-1 if deadline is None else min(left(0.2) or 1, 1)):
            spark, self._spark = self._spark, (None if self._own_spark else self._spark)
            self._spark_lock.release()
            if spark is not None and self._own_spark:
                from local_stack.spark import stop_local_spark

                stop_local_spark(spark, left(0.9) or 30)
        if self._emulator is not None:
            self._emulator.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(self.stop_timeout)


__all__ = ["BUCKET", "DAG_ID", "LocalStack", "ServiceStartError"]

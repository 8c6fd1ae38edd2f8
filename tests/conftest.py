"""Shared fixtures: one :class:`~local_stack.local_stack.LocalStack` (GCS emulator, local Databricks
runner, the SparkSession it runs tasks on) per test run.

Airflow reads its configuration when first imported, so the test Airflow home is set up here, at
import time, before any test module imports Airflow.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="order-tracking-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)  # pytest's tmp dirs come later
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
)
# Short-lived test JVM: C1-only JIT and few shuffle partitions start tiny jobs faster on 2 cores.
os.environ.setdefault("SPARK_DRIVER_JAVA_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
os.environ.setdefault("SPARK_SHUFFLE_PARTITIONS", "2")

from local_stack.airflow_env import LOCAL_TOKEN, free_port  # noqa: E402
from local_stack.databricks_runner import LocalDatabricks, RunnerServer  # noqa: E402
from local_stack.gcs_emulator import emulator_client  # noqa: E402
from local_stack.local_stack import LocalStack  # noqa: E402
from local_stack.runner_client import RunnerClient  # noqa: E402
from local_stack.settings import BUCKET  # noqa: E402
from tests.airflow_under_test import AIRFLOW_PYTHON, airflow_under_test  # noqa: E402


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make test``'s two workers: every test on its own, except the units of :mod:`tests.work_units`."""
    from tests.work_units import make_scheduler

    return make_scheduler(config, log)


def _test_spark(gcs_url: str, warehouse: Path) -> Any:
    from local_stack.spark import INTERPRETED, build_local_spark

    # tiny batches: interpreted evaluation, no code generation (see INTERPRETED). Everything on this
    # session runs so: the Spark, end-to-end and live Airflow tests and the bench smoke run; the
    # generated_code fixture gives one end-to-end test Spark's default back.
    return build_local_spark(gcs_url, warehouse, app_name="order-tracking-tests", extra_conf=INTERPRETED)


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def local_stack(warehouse: Path) -> Iterator[LocalStack]:
    """The test run's one emulator and runner (and, once asked for, SparkSession), on free ports."""
    with LocalStack(warehouse, airflow_home=_AIRFLOW_HOME, spark_factory=_test_spark) as stack:
        yield stack


@pytest.fixture(scope="session")
def gcs_url(local_stack: LocalStack) -> str:
    """The emulator's URL (``STORAGE_EMULATOR_HOST``)."""
    return local_stack.gcs_url


@pytest.fixture(scope="session")
def gcs(local_stack: LocalStack) -> Any:
    """A google-cloud-storage client on the emulator."""
    return emulator_client(local_stack.gcs_url)


@pytest.fixture
def bucket(gcs: Any) -> Iterator[Any]:
    """The emulator's bucket, emptied after each test so tests do not see each other's objects."""
    bucket = gcs.bucket(BUCKET)
    yield bucket
    for blob in list(gcs.list_blobs(BUCKET)):
        blob.delete()


@pytest.fixture(scope="session")
def spark(local_stack: LocalStack) -> Any:
    """The one SparkSession (Delta Lake + gs:// on the emulator) of the whole test run; the stack
    stops it, and its JVM, at the end."""
    return local_stack.spark_session()


@pytest.fixture
def generated_code(spark: Any) -> Iterator[None]:
    """Spark's default code generation for one test on the suite's interpreted session, as
    ``make run`` and Databricks run the jobs (the runner runs them on this same session).

    Checks first that the session now plans whole-stage generated code.
    """
    from local_stack.spark import GENERATED, INTERPRETED

    for key, value in GENERATED.items():
        spark.conf.set(key, value)
    try:
        plan = spark.range(1).selectExpr("id + 1")._jdf.queryExecution().executedPlan()
        assert plan.nodeName().startswith("WholeStageCodegen"), plan.toString()
        yield
    finally:
        for key, value in INTERPRETED.items():
            spark.conf.set(key, value)


@pytest.fixture(scope="session")
def databricks(local_stack: LocalStack, spark: Any) -> RunnerClient:
    """The local Databricks runner, read through its API; it executes tasks on the shared SparkSession."""
    return local_stack.runner


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the Airflow under test when it is not this venv's (``make lane-e2e-<lane>``)."""
    if sys.executable == AIRFLOW_PYTHON:
        return None
    return f"the end-to-end tests run Airflow {airflow_under_test()} ({AIRFLOW_PYTHON})"


@pytest.fixture(scope="session")
def airflow_python() -> str:
    """The interpreter of the Airflow under test (see ``AIRFLOW_PYTHON``)."""
    return AIRFLOW_PYTHON


@pytest.fixture(scope="session")
def airflow_local_env(local_stack: LocalStack, airflow_python: str) -> dict[str, str]:
    """Environment of a local Airflow wired to the test stack, with its metadata DB migrated by
    the Airflow under test."""
    local_stack.migrate_airflow_db(airflow_python)
    return local_stack.env


@pytest.fixture
def gcs_connection(gcs_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's ``google_cloud_default`` in this process, on the emulator (for hooks and operators)."""
    from local_stack.airflow_env import google_connection

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_url)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(google_connection()))


@pytest.fixture
def put_batch(bucket: Any) -> Any:
    """Upload CSV objects and their manifest to the emulator, as the DAG would; return the manifest URI."""
    from datetime import UTC, datetime

    from local_stack.batches import upload_batch

    def put(
        batch_id: str, files: dict[str, str | bytes], created_at: datetime | None = None, **options: Any
    ) -> str:
        return upload_batch(bucket, batch_id, files, created_at or datetime.now(UTC), **options)

    return put


@pytest.fixture(scope="session")
def databricks_files() -> Iterator[RunnerServer]:
    """A local runner with no SparkSession behind it, for Files API tests (its tasks would fail).

    The same app as :func:`databricks` (bearer token, the Files API mounted in ``create_app``),
    without starting a JVM for tests that only move files.
    """

    def no_spark() -> Any:
        raise RuntimeError("this runner serves the Files API only")

    port = free_port()
    server = RunnerServer(LocalDatabricks(no_spark, f"http://127.0.0.1:{port}"), port, LOCAL_TOKEN)
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[Any]:
    """The official Pub/Sub emulator on a free loopback port, started once per worker (about 3 to
    8 s here): for the local-stack tests of notifications and the live event-driven tests."""
    from local_stack.pubsub_emulator import PubSubEmulator

    with PubSubEmulator() as started:
        print(f"Pub/Sub emulator answered {started.start_seconds:.1f} s after launch")
        yield started

"""Shared fixtures: one GCS emulator, one SparkSession and one local Databricks runner per test run.

Airflow reads its configuration when first imported, so the test Airflow home is set up here, at
import time, before any test module imports Airflow.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
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

from local_stack.airflow_env import LOCAL_TOKEN, LocalStackAddresses, airflow_env, free_port  # noqa: E402
from local_stack.databricks_runner import LocalDatabricks, RunnerServer  # noqa: E402
from local_stack.gcs_emulator import GcsEmulator, emulator_client  # noqa: E402

BUCKET = "tracking_orders"


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    with GcsEmulator(free_port(), BUCKET) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcs(gcs_emulator: GcsEmulator) -> Any:
    """A google-cloud-storage client on the emulator."""
    return emulator_client(gcs_emulator.url)


@pytest.fixture
def bucket(gcs: Any) -> Iterator[Any]:
    """The emulator's bucket, emptied after each test so tests do not see each other's objects."""
    bucket = gcs.bucket(BUCKET)
    yield bucket
    for blob in list(gcs.list_blobs(BUCKET)):
        blob.delete()


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def spark(gcs_emulator: GcsEmulator, warehouse: Path) -> Iterator[Any]:
    """The one SparkSession (Delta Lake + gs:// on the emulator) of the whole test run."""
    from local_stack.spark import build_local_spark

    session = build_local_spark(gcs_emulator.url, warehouse, app_name="order-tracking-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def databricks(spark: Any) -> Iterator[RunnerServer]:
    """The local Databricks runner, executing tasks on the shared SparkSession."""
    port = free_port()
    server = RunnerServer(LocalDatabricks(lambda: spark, f"http://127.0.0.1:{port}"), port, LOCAL_TOKEN)
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def airflow_local_env(gcs_emulator: GcsEmulator, databricks: RunnerServer, warehouse: Path) -> dict[str, str]:
    """Environment of a local Airflow wired to the test stack, with its metadata DB migrated."""
    env = airflow_env(_AIRFLOW_HOME, LocalStackAddresses(gcs_emulator.url, databricks.port, warehouse))
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return env


@pytest.fixture
def gcs_connection(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's ``google_cloud_default`` in this process, on the emulator (for hooks and operators)."""
    from local_stack.airflow_env import google_connection

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(google_connection()))


@pytest.fixture
def put_batch(bucket: Any) -> Any:
    """Upload CSV objects and their manifest to the emulator, as the DAG would; return the manifest URI."""
    from datetime import UTC, datetime

    from tests.batches import upload_batch

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

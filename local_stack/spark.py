"""A local SparkSession shaped like a Databricks cluster: Delta Lake, UTC, and gs:// via the emulator."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession

from local_stack.jars import ensure_jars
from local_stack.processes import end_processes, process_tree

logging.getLogger("py4j").setLevel(logging.WARNING)
log = logging.getLogger(__name__)


def gcs_emulator_conf(emulator_url: str) -> dict[str, str]:
    """Hadoop GCS connector 3.x settings for an unauthenticated emulator on loopback."""
    return {
        "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
        "spark.hadoop.fs.gs.storage.root.url": emulator_url.rstrip("/") + "/",
        "spark.hadoop.fs.gs.storage.service.path": "storage/v1/",
        "spark.hadoop.fs.gs.auth.type": "UNAUTHENTICATED",
        "spark.hadoop.fs.gs.project.id": "local",
        # The emulator serves one request at a time: keep the connector from hammering it.
        "spark.hadoop.fs.gs.inputstream.fadvise": "SEQUENTIAL",
    }


# Spark's interpreted evaluation instead of generated Java code (``spark.sql.codegen.factoryMode``
# is an internal setting; Spark's own expression tests run both modes and compare them). For
# batches of a few rows the code generation is the cost: 39 % of the driver's CPU samples in a
# JFR profile of ``bench/batch_overhead.py`` (generating the source 28 %, compiling it with Janino
# 11 %), much of it for Delta's own log-replay queries. Measured there (2-row batch, fresh tables,
# 2 cores): stage 10.1 -> 7.3 s, merge 11.3 -> 7.4 s. For large data generated code wins, so only
# the test suite's session uses this; make run, make up and make bench keep Spark's default.
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
# Spark's defaults for the same two settings (generated code, interpreted only where it fails to
# compile): both are session settings, so a test can set them for itself on an INTERPRETED session.
GENERATED = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}


def build_local_spark(
    emulator_url: str,
    warehouse: Path,
    app_name: str = "order-tracking-local",
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """Create (or return) the process's SparkSession with Delta Lake and the GCS connector.

    ``extra_conf``: more session settings, applied last (for example :data:`INTERPRETED`).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    jars = ",".join(str(path) for path in ensure_jars())
    builder = (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2]"))
        .appName(app_name)
        .config("spark.jars", jars)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse / "_spark_warehouse"))
        .config("spark.sql.shuffle.partitions", os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"))
        .config("spark.default.parallelism", "4")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # A checksum file after each commit costs a state reconstruction (Spark jobs) per write;
        # Delta reads tables without it. Measured: a small stage + merge 40 s -> 32 s on 2 cores.
        .config("spark.databricks.delta.writeChecksumFile.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.driver.extraJavaOptions", os.environ.get("SPARK_DRIVER_JAVA_OPTIONS", ""))
    )
    for key, value in (gcs_emulator_conf(emulator_url) | (extra_conf or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _quiet_csv_header_checker(spark)
    return spark


def _quiet_csv_header_checker(spark: SparkSession) -> None:
    """Silence Spark's "CSV header does not conform to the schema" warning, once per object read.

    The stage job reads each object with the schema its own header probe built (names trimmed and
    ASCII lower-cased: spark_tasks.contract.normalize_column), so Spark's header check warns on
    every producer header that is not already canonical ("Tracking_Num ", "STATUS"). The probe has
    decided already; the warning says nothing new. On Databricks the same lines go to the driver
    log, where they are harmless.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.catalyst.csv.CSVHeaderChecker", jvm.org.apache.logging.log4j.Level.ERROR
    )


def end_gateway_jvm(gateway: Any, timeout: float) -> None:
    """Close a Py4J gateway PySpark launched and end its JVM within about ``timeout`` seconds.

    PySpark leaves the JVM running until this process exits (it ends when its stdin closes, which
    takes a few seconds more): the stdin is closed now and, past ``timeout``, the JVM and anything
    it started are killed (``psutil``). A gateway PySpark did not launch (no ``proc``) is only closed.
    """
    process: subprocess.Popen[bytes] | None = getattr(gateway, "proc", None)
    tree = process_tree(process.pid) if process is not None else []
    try:
        gateway.shutdown()
    except Exception:
        log.exception("closing the Py4J gateway failed")
    if SparkContext._gateway is gateway:
        SparkContext._gateway, SparkContext._jvm = None, None
    if process is None:
        return
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("the local Spark JVM did not exit in %.0f s: killed", timeout)
    end_processes(tree, grace=0)
    process.wait()


def stop_local_spark(session: SparkSession, timeout: float = 5.0) -> None:
    """Stop ``session`` and end the JVM PySpark started for it (:func:`end_gateway_jvm`).

    Errors of a JVM that is already gone (a SIGTERM sent to the whole process group reaches it too)
    are logged, not raised: the point is that nothing is left running.
    """
    gateway = SparkContext._gateway
    try:
        session.stop()
    except Exception as error:  # one line: a JVM ended by the signal's SIGTERM is the usual cause
        log.warning("stopping the local SparkSession failed (%s: %s)", type(error).__name__, error)
    if gateway is not None:
        end_gateway_jvm(gateway, timeout)

"""A local SparkSession shaped like a Databricks cluster: Delta Lake, UTC, and gs:// via the emulator."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pyspark.sql import SparkSession

from local_stack.jars import ensure_jars

logging.getLogger("py4j").setLevel(logging.WARNING)


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


def build_local_spark(
    emulator_url: str, warehouse: Path, app_name: str = "order-tracking-local"
) -> SparkSession:
    """Create (or return) the process's SparkSession with Delta Lake and the GCS connector."""
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
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.driver.extraJavaOptions", os.environ.get("SPARK_DRIVER_JAVA_OPTIONS", ""))
    )
    for key, value in gcs_emulator_conf(emulator_url).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark

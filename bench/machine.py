"""The machine and versions a run was measured on, for the page's header."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(spark: SparkSession) -> dict[str, Any]:
    """Cores, memory, CPU, versions, the Spark settings that shape the figures, and the date."""
    conf = spark.conf
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "java": str(spark.sparkContext._jvm.java.lang.System.getProperty("java.version"))
        if spark.sparkContext._jvm
        else "unknown",
        "spark": spark.version,
        "delta": _version("delta-spark"),
        "airflow": _version("apache-airflow"),
        "spark_master": spark.sparkContext.master,
        "spark_driver_memory": conf.get("spark.driver.memory", "1g"),
        "spark_shuffle_partitions": conf.get("spark.sql.shuffle.partitions"),
        "spark_adaptive": conf.get("spark.sql.adaptive.enabled"),
        "spark_broadcast_threshold": conf.get("spark.sql.autoBroadcastJoinThreshold"),
    }

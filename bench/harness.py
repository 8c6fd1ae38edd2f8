"""Running the registered sections on one SparkSession and writing the page, the JSON and the plot."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from pyspark.sql import SparkSession

from bench import report
from bench.config import BenchConfig
from bench.live_stack import StackFactory
from bench.registry import sections
from bench.section import BenchContext, SectionResult


@dataclass(frozen=True)
class BenchRun:
    """What a run produced: the sections' results, failures, and the files written."""

    results: list[SectionResult]
    errors: dict[str, str]
    page: Path
    raw: Path
    plot: Path | None


def describe_machine(spark: SparkSession) -> dict[str, Any]:
    """Cores, memory, CPU, versions, the Spark settings that shape the figures, and the date."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    jvm, conf = spark.sparkContext._jvm, spark.conf
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu": model.group(1) if model else platform.processor() or "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "java": str(jvm.java.lang.System.getProperty("java.version")) if jvm else "unknown",
        "spark": spark.version,
        "delta": metadata.version("delta-spark"),
        "airflow": metadata.version("apache-airflow"),
        "spark_master": spark.sparkContext.master,
        "spark_driver_memory": conf.get("spark.driver.memory", "1g"),
        "spark_shuffle_partitions": conf.get("spark.sql.shuffle.partitions"),
        "spark_adaptive": conf.get("spark.sql.adaptive.enabled"),
        "spark_broadcast_threshold": conf.get("spark.sql.autoBroadcastJoinThreshold"),
    }


def run_bench(
    spark: SparkSession,
    cfg: BenchConfig,
    only: Sequence[str] = (),
    log: Callable[[str], None] = print,
    stack: StackFactory | None = None,
) -> BenchRun:
    """Run every registered section (or those in ``only``) and write the outputs to ``cfg.out_dir``.

    A failing section is recorded and the others still run. A run of some sections keeps the others
    an earlier run left in ``cfg.out_dir``. ``stack`` starts the local stack for the end-to-end ones.
    """
    registered = sections()
    unknown = set(only) - {s.name for s in registered}
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; known: {[s.name for s in registered]}")
    ctx = BenchContext(spark, cfg, log, stack)
    results: list[SectionResult] = []
    errors: dict[str, str] = {}
    for section in [s for s in registered if not only or s.name in only]:
        log(f"== {section.title}")
        try:
            result = section.run(ctx)
        except Exception:
            errors[section.name] = traceback.format_exc()
            log(f"section {section.name} failed:\n{errors[section.name]}")
            continue
        result.raw = report.plain(result.raw)
        results.append(result)
    machine = describe_machine(spark)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    page, raw, plot = (cfg.out_dir / name for name in (report.PAGE, report.RAW, report.PLOT))
    document = report.raw_document(cfg, machine, results, errors)
    # One writer at a time: a partial run reads, merges and writes while holding the lock.
    with (cfg.out_dir / ".benchmarks.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if only and raw.exists():  # keep the sections an earlier run left
            earlier = json.loads(raw.read_text())
            document = report.merge_documents(earlier, document, [s.name for s in registered])
        merge = next((r for r in results if r.name == "merge"), None)
        if merge is not None:  # else keep an earlier run's plot if its merge section was kept
            subtitle = f"{machine['cores']} cores, Spark {machine['spark']}, Delta {machine['delta']}"
            report.plot_merge(merge.raw["scenarios"], plot, subtitle)
        plot_path = plot if "merge" in document["sections"] and plot.exists() else None
        report.write_atomically(page, report.render_document(document, plot_path.name if plot_path else None))
        report.write_atomically(raw, json.dumps(document, indent=2, sort_keys=True) + "\n")
    log(report.console_summary(results, errors))
    return BenchRun(results, errors, page, raw, plot_path)

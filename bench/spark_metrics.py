"""What Spark and Delta say about a run: Delta's commit metrics (``DESCRIBE HISTORY``), the SQL
executions in Spark's status store (the UI is off), and the driver JVM's peak memory.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psutil
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_tasks.tables import TableRef

T = TypeVar("T")
MIB = 1024 * 1024
_JOINS = ("BroadcastHashJoin", "SortMergeJoin", "ShuffledHashJoin", "BroadcastNestedLoopJoin")


@dataclass(frozen=True)
class WriteCost:
    """What the commits of one method wrote, summed over its commits."""

    rows_written: int  # rows in the new data files (numOutputRows)
    rows_copied: int  # unchanged rows rewritten only because they shared a file (numTargetRowsCopied)
    files_added: int
    files_removed: int
    deletion_vectors_added: int
    merge_execution_ms: int  # Delta's own MERGE timings, where the method ran a MERGE
    merge_scan_ms: int
    merge_rewrite_ms: int


def current_version(spark: SparkSession, table: TableRef) -> int:
    return int(table.delta_table(spark).history(1).collect()[0]["version"])


def write_cost(spark: SparkSession, table: TableRef, version: int) -> WriteCost:
    """The summed operation metrics of the commits after ``version``."""
    history = table.delta_table(spark).history().where(F.col("version") > version)
    commits = [(str(r["operation"]), dict(r["operationMetrics"] or {})) for r in history.collect()]

    def total(*keys: str, operation: str = "") -> int:  # the first key a commit has, summed
        return sum(
            next((int(m[k]) for k in keys if k in m), 0) for op, m in commits if op.startswith(operation)
        )

    return WriteCost(
        rows_written=total("numOutputRows"),
        rows_copied=total("numTargetRowsCopied", "numCopiedRows"),
        files_added=total("numTargetFilesAdded", "numAddedFiles", "numFiles"),
        files_removed=total("numTargetFilesRemoved", "numRemovedFiles"),
        deletion_vectors_added=total("numTargetDeletionVectorsAdded", "numDeletionVectorsAdded"),
        merge_execution_ms=total("executionTimeMs", operation="MERGE"),
        merge_scan_ms=total("scanTimeMs", operation="MERGE"),
        merge_rewrite_ms=total("rewriteTimeMs", operation="MERGE"),
    )


@dataclass(frozen=True)
class Execution:
    """One SQL execution: its description, seconds, the join operators and scans in its final plan."""

    description: str
    seconds: float
    joins: tuple[str, ...]
    scans: int


def _executions(spark: SparkSession) -> list[Any]:
    found = spark._jsparkSession.sharedState().statusStore().executionsList()
    return [found.apply(i) for i in range(found.size())]


def last_execution_id(spark: SparkSession) -> int:
    return max((int(e.executionId()) for e in _executions(spark)), default=-1)


def executions_after(spark: SparkSession, execution_id: int) -> list[Execution]:
    """Completed SQL executions with an id above ``execution_id``, longest first."""
    found = []
    for data in _executions(spark):
        if int(data.executionId()) <= execution_id or data.completionTime().isEmpty():
            continue
        plan = str(data.physicalPlanDescription())
        found.append(
            Execution(
                " ".join(str(data.description()).split())[:110],
                (data.completionTime().get().getTime() - data.submissionTime()) / 1000.0,
                tuple(sorted({j for j in _JOINS if j in plan})),
                len(re.findall(r"^\(\d+\) Scan ", plan, flags=re.MULTILINE)),
            )
        )
    return sorted(found, key=lambda e: e.seconds, reverse=True)


@dataclass(frozen=True)
class PeakMemory:
    rss_peak_mib: float
    heap_peak_mib: float
    heap_max_mib: float


def measure_peak(spark: SparkSession, action: Callable[[], T]) -> tuple[PeakMemory, T]:
    """Run ``action`` and return the driver JVM's peak memory during it, with the action's result."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    process = psutil.Process(int(jvm.java.lang.ProcessHandle.current().pid()))
    beans = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
    pools = [beans.get(i) for i in range(beans.size()) if str(beans.get(i).getType().name()) == "HEAP"]
    for pool in pools:
        pool.resetPeakUsage()
    samples = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            samples.append(process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = action()
    finally:
        done.set()
        sampler.join()
    heap_peak = sum(int(pool.getPeakUsage().getUsed()) for pool in pools)
    heap_max = int(jvm.java.lang.Runtime.getRuntime().maxMemory())
    return PeakMemory(max(samples) / MIB, heap_peak / MIB, heap_max / MIB), result

"""Reading what Delta itself says about a write: commits since a version and their operation metrics.

"Rows rewritten" comes from ``DESCRIBE HISTORY``'s ``operationMetrics``, not from our own counts,
so that our merge and the baselines are measured by the same ruler.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_tasks.tables import TableRef


@dataclass(frozen=True)
class WriteCost:
    """What the commits of one method wrote, summed over its commits."""

    operations: tuple[str, ...]
    rows_written: int  # rows in the new data files (numOutputRows)
    rows_copied: int  # unchanged rows rewritten only because they shared a file (numTargetRowsCopied)
    files_added: int
    files_removed: int
    deletion_vectors_added: int
    bytes_added: int
    merge_execution_ms: int  # Delta's own MERGE timings, where the method ran a MERGE
    merge_scan_ms: int
    merge_rewrite_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_version(spark: SparkSession, table: TableRef) -> int:
    return int(table.delta_table(spark).history(1).collect()[0]["version"])


def commits_since(spark: SparkSession, table: TableRef, version: int) -> list[dict[str, Any]]:
    """``[{version, operation, metrics}]`` of the commits after ``version``, oldest first."""
    rows = (
        table.delta_table(spark)
        .history()
        .where(F.col("version") > version)
        .select("version", "operation", "operationMetrics")
        .orderBy("version")
        .collect()
    )
    return [
        {
            "version": int(r["version"]),
            "operation": r["operation"],
            "metrics": dict(r["operationMetrics"] or {}),
        }
        for r in rows
    ]


def _sum(commits: list[dict[str, Any]], *keys: str) -> int:
    total = 0
    for commit in commits:
        for key in keys:
            if key in commit["metrics"]:
                total += int(commit["metrics"][key])
                break
    return total


def write_cost(commits: list[dict[str, Any]]) -> WriteCost:
    merges = [c for c in commits if c["operation"] == "MERGE"]
    return WriteCost(
        operations=tuple(c["operation"] for c in commits),
        rows_written=_sum(commits, "numOutputRows"),
        rows_copied=_sum(commits, "numTargetRowsCopied", "numCopiedRows"),
        files_added=_sum(commits, "numTargetFilesAdded", "numAddedFiles", "numFiles"),
        files_removed=_sum(commits, "numTargetFilesRemoved", "numRemovedFiles"),
        deletion_vectors_added=_sum(commits, "numTargetDeletionVectorsAdded", "numDeletionVectorsAdded"),
        bytes_added=_sum(commits, "numTargetBytesAdded", "numAddedBytes", "numOutputBytes"),
        merge_execution_ms=_sum(merges, "executionTimeMs"),
        merge_scan_ms=_sum(merges, "scanTimeMs"),
        merge_rewrite_ms=_sum(merges, "rewriteTimeMs"),
    )


def restore(spark: SparkSession, table: TableRef, version: int) -> None:
    """Put the table back to ``version`` so that the next repetition starts from the same state."""
    spark.sql(f"RESTORE TABLE {table.sql_name} TO VERSION AS OF {version}")


@dataclass(frozen=True)
class Layout:
    """The table's data files at its current version."""

    files: int
    bytes: int
    rows: int


def layout(spark: SparkSession, table: TableRef) -> Layout:
    detail = spark.sql(f"DESCRIBE DETAIL {table.sql_name}").collect()[0]
    return Layout(int(detail["numFiles"]), int(detail["sizeInBytes"]), table.read(spark).count())

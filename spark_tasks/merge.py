"""Merge job: upsert one staged batch into the target table, keyed on ``tracking_num``.

The batch is first reduced to one row per key (duplicate keys never fail the MERGE), and a matched
target row is only replaced by a strictly newer event, or an equal event from a later batch: an
older file never rolls a parcel back. The MERGE commit is tagged with the batch id; a re-run finds
that commit and does not merge again, so the target and the counts are those of one clean run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from batch_documents import Manifest, MergeResult, Outcome
from spark_tasks import lineage, storage
from spark_tasks.cli import JobArgs, parse_job_args
from spark_tasks.contract import CONTRACT_VERSION, KEY_COLUMN
from spark_tasks.local_frame import local_frame
from spark_tasks.schemas import AUDIT_SCHEMA, TARGET_PROPERTIES, TARGET_SCHEMA
from spark_tasks.tables import TableRef
from spark_tasks.transforms import latest_per_key

log = logging.getLogger(__name__)

NEWER_THAN_TARGET = "s.event_ts > t.event_ts OR (s.event_ts = t.event_ts AND s.ingested_at > t.ingested_at)"
COMMIT_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
HISTORY_DEPTH = 500  # commits searched for an earlier attempt's MERGE of the same batch


class ReconciliationError(RuntimeError):
    """Counts that must add up did not: the batch is not trusted."""


def merge_marker(batch_id: str) -> str:
    return f"order_tracking.merge:{batch_id}"


def find_merge_commit(
    spark: SparkSession, target: TableRef, batch_id: str, depth: int = HISTORY_DEPTH
) -> Row | None:
    """The target commit that merged ``batch_id`` among the last ``depth`` commits, if any."""
    history = target.delta_table(spark).history(depth)
    found = history.where(F.col("userMetadata") == merge_marker(batch_id)).select(
        "version", "operationMetrics"
    )
    rows = found.collect()
    return rows[0] if rows else None


def stale_from_metrics(metrics: Mapping[str, str], keys: int, batch_id: str) -> int:
    """Batch rows the MERGE matched but left alone, from the commit's own metrics.

    Every row of the reduced batch is inserted, updated, or matched by a row at least as new, so the
    stale rows are the source rows the other two leave over. Delta's source row count is first
    checked against the job's own key count. This replaces a join of the batch with the whole
    target, whose cost grew with the table.
    """
    source_rows = int(metrics["numSourceRows"])
    if source_rows != keys:
        raise ReconciliationError(
            f"batch {batch_id}: the MERGE read {source_rows} source rows, but the batch has {keys} keys"
        )
    return source_rows - int(metrics["numTargetRowsInserted"]) - int(metrics["numTargetRowsUpdated"])


def _execute_merge(spark: SparkSession, target: TableRef, latest: DataFrame, batch_id: str) -> None:
    builder = (
        target.delta_table(spark)
        .alias("t")
        .merge(latest.alias("s"), f"t.{KEY_COLUMN} = s.{KEY_COLUMN}")
        .whenMatchedUpdateAll(condition=NEWER_THAN_TARGET)
        .whenNotMatchedInsertAll()
    )
    if set(latest.columns) - set(target.read(spark).columns):
        builder = builder.withSchemaEvolution()  # columns added under the 'add' schema policy
    spark.conf.set(COMMIT_METADATA_CONF, merge_marker(batch_id))
    try:
        builder.execute()
    finally:
        spark.conf.unset(COMMIT_METADATA_CONF)


@dataclass(frozen=True)
class BatchCounts:
    """What one pass over a batch's staged rows says: rows, distinct keys, rows lacking lineage."""

    rows: int
    keys: int
    without_lineage: int


def count_batch(batch_rows: DataFrame) -> BatchCounts:
    """Rows, keys and rows without lineage of the staged batch, in one aggregate (one scan).

    The keys are the rows :func:`~spark_tasks.transforms.latest_per_key` keeps: one per distinct
    ``tracking_num`` (a null key, which validation never stages, would be one more group). Counting
    them here, from the stage rows, instead of counting the reduced batch itself saves a scan and
    a window; the MERGE's own source row count is then checked against it (``stale_from_metrics``).
    """
    key = F.col(KEY_COLUMN)
    lacks_lineage = F.greatest(*[F.col(c).isNull() for c in lineage.STAGE_LINEAGE_COLUMNS])
    row = batch_rows.agg(
        F.count(F.lit(1)).alias("rows"),
        (F.count_distinct(key) + F.max(key.isNull().cast("int"))).alias("keys"),
        F.count(F.when(lacks_lineage, 1)).alias("no_lineage"),
    ).collect()[0]
    return BatchCounts(int(row["rows"]), int(row["keys"] or 0), int(row["no_lineage"]))


@dataclass(frozen=True)
class LedgerStats:
    """The ledger's view of a batch: what the merge checks (rows loaded) and what the audit reports."""

    rows_loaded: int
    objects: int
    objects_loaded: int
    objects_quarantined: int
    objects_duplicate: int
    records_read: int
    rows_rejected: int
    merged_at: datetime | None  # the batch's cut time (the ledger's recorded_at)


def ledger_stats(spark: SparkSession, args: JobArgs, batch_id: str) -> LedgerStats:
    """The batch's ledger rows summed in one aggregate (the merge job never writes the ledger)."""
    outcome = F.col("outcome")
    row = (
        args.ledger.read(spark)
        .where(F.col("batch_id") == batch_id)
        .agg(
            F.coalesce(F.sum("rows_loaded"), F.lit(0)).alias("rows_loaded"),
            F.count("*").alias("objects"),
            F.count(F.when(outcome == Outcome.LOADED.value, 1)).alias("objects_loaded"),
            F.count(F.when(outcome == Outcome.QUARANTINED.value, 1)).alias("objects_quarantined"),
            F.count(F.when(outcome == Outcome.DUPLICATE.value, 1)).alias("objects_duplicate"),
            F.coalesce(F.sum("records_read"), F.lit(0)).alias("records_read"),
            F.coalesce(F.sum("rows_rejected"), F.lit(0)).alias("rows_rejected"),
            F.max("recorded_at").alias("merged_at"),
        )
        .collect()[0]
    )
    return LedgerStats(**row.asDict())


def run_merge(spark: SparkSession, manifest: Manifest, args: JobArgs) -> MergeResult:
    """Merge the staged rows of one batch into the target (at most once) and audit the counts."""
    if manifest.dry_run:
        raise ValueError(f"batch {manifest.batch_id} is a dry run: it is validated and reported, not merged")
    target, batch_id = args.target, manifest.batch_id
    target.ensure(spark, TARGET_SCHEMA, TARGET_PROPERTIES)
    args.audit.ensure(spark, AUDIT_SCHEMA)
    batch_rows = args.stage.read(spark).where(F.col(lineage.BATCH_ID) == batch_id)
    counts, ledger = count_batch(batch_rows), ledger_stats(spark, args, batch_id)
    check_before_merge(batch_id, counts, ledger)
    commit = find_merge_commit(spark, target, batch_id)
    if commit is None:
        columns = [c for c in batch_rows.columns if c not in (lineage.OBJECT_SEQ, lineage.RECORD_INDEX)]
        _execute_merge(spark, target, latest_per_key(batch_rows).select(*columns), batch_id)
        # ours is normally the newest commit; look deeper only if another writer came after it
        commit = find_merge_commit(spark, target, batch_id, depth=1) or find_merge_commit(
            spark, target, batch_id
        )
    if commit is None:  # Delta commits only changes: no row was inserted or updated
        version = int(target.delta_table(spark).history(1).collect()[0]["version"])
        metrics: dict[str, str] = {}
        stale = counts.keys  # so every key matched a target row at least as new
    else:
        version, metrics = int(commit["version"]), commit["operationMetrics"] or {}
        stale = stale_from_metrics(metrics, counts.keys, batch_id)
    result = MergeResult(
        batch_id=batch_id,
        rows_loaded=counts.rows,
        keys_in_batch=counts.keys,
        superseded_in_batch=counts.rows - counts.keys,
        inserted=int(metrics.get("numTargetRowsInserted", 0)),
        updated=int(metrics.get("numTargetRowsUpdated", 0)),
        stale_skipped=stale,
        target_rows=target.read(spark, version).count(),
        target_version=version,
    )
    reconcile(result)
    write_audit(spark, args, result, ledger)
    return result


def check_before_merge(batch_id: str, counts: BatchCounts, ledger: LedgerStats) -> None:
    """Every check that can run before the MERGE commits: a batch that fails one is never merged.

    The ledger's rows loaded must equal the stage table's rows of the batch, and every staged row must
    name its object, its place in the batch and its record (lineage the tie-break and the audit use).
    """
    if ledger.rows_loaded != counts.rows:
        raise ReconciliationError(
            f"batch {batch_id}: the ledger says {ledger.rows_loaded} rows loaded, "
            f"the stage table holds {counts.rows}; nothing was merged"
        )
    if counts.without_lineage:
        raise ReconciliationError(
            f"batch {batch_id}: {counts.without_lineage} staged rows lack their object or record lineage; "
            "nothing was merged"
        )


def reconcile(result: MergeResult) -> None:
    """inserts + updates + stale + superseded = rows loaded (known only once the MERGE has run)."""
    accounted = result.inserted + result.updated + result.stale_skipped + result.superseded_in_batch
    if accounted != result.rows_loaded:
        raise ReconciliationError(
            f"batch {result.batch_id}: inserted {result.inserted} + updated {result.updated} + stale "
            f"{result.stale_skipped} + superseded {result.superseded_in_batch} = {accounted}, "
            f"but {result.rows_loaded} rows were staged"
        )


def write_audit(spark: SparkSession, args: JobArgs, result: MergeResult, ledger: LedgerStats) -> None:
    """The batch's audit row (replacing an earlier attempt's): the merge's counts and the ledger's."""
    row = (
        result.batch_id,
        ledger.objects,
        ledger.objects_loaded,
        ledger.objects_quarantined,
        ledger.objects_duplicate,
        ledger.records_read,
        result.rows_loaded,
        ledger.rows_rejected,
        result.keys_in_batch,
        result.superseded_in_batch,
        result.inserted,
        result.updated,
        result.stale_skipped,
        result.target_rows,
        result.target_version,
        ledger.merged_at,
        CONTRACT_VERSION,
    )
    frame = local_frame(spark, [row], AUDIT_SCHEMA)
    writer = (
        frame.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"batch_id = '{result.batch_id}'")
    )
    args.audit.save(writer)


def main(argv: list[str] | None = None) -> None:
    """Entry point (``merge``): merge the batch named by ``--manifest`` and write its result."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_job_args(sys.argv[1:] if argv is None else argv, description=__doc__ or "")
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    manifest = Manifest.from_json(storage.read_text(spark, args.manifest_uri))
    result = run_merge(spark, manifest, args)
    storage.write_text(spark, manifest.merge_result_uri, result.to_json())
    log.info(
        "merged batch %s: %d inserted, %d updated, %d stale, %d superseded; target has %d rows",
        result.batch_id,
        result.inserted,
        result.updated,
        result.stale_skipped,
        result.superseded_in_batch,
        result.target_rows,
    )

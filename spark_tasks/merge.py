"""Merge job: upsert one staged batch into the target table, keyed on ``tracking_num``.

The batch is first reduced to one row per key (so duplicate keys never fail the MERGE), and a
matched target row is only replaced by a strictly newer event (or an equal event from a later
batch): an older file can never roll a parcel back, and re-running a merged batch changes nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_tasks import lineage, storage
from spark_tasks.cli import parse_job_args
from spark_tasks.contract import KEY_COLUMN, TYPED_SCHEMA
from spark_tasks.manifest import BatchManifest, parse_manifest
from spark_tasks.tables import TableRef
from spark_tasks.transforms import latest_per_key

log = logging.getLogger(__name__)

TARGET_COLUMNS = [field.name for field in TYPED_SCHEMA.fields] + list(lineage.TARGET_LINEAGE_COLUMNS)
TARGET_SCHEMA_DDL = ", ".join(
    [f"{field.name} {field.dataType.simpleString()}" for field in TYPED_SCHEMA.fields]
    + [f"{lineage.SOURCE_OBJECT} string", f"{lineage.BATCH_ID} string", f"{lineage.INGESTED_AT} timestamp"]
)
# Deletion vectors let MERGE mark replaced rows instead of rewriting whole files (Delta >= 3.1).
TARGET_PROPERTIES = {"delta.enableDeletionVectors": "true"}

NEWER_THAN_TARGET = "s.event_ts > t.event_ts OR (s.event_ts = t.event_ts AND s.ingested_at > t.ingested_at)"


@dataclass(frozen=True)
class MergeResult:
    batch_id: str
    rows_in_batch: int
    keys_in_batch: int
    inserted: int
    updated: int
    target_rows: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def run_merge(spark: SparkSession, manifest: BatchManifest, stage: TableRef, target: TableRef) -> MergeResult:
    """Merge the staged rows of one batch into the target."""
    target.create_if_missing(spark, TARGET_SCHEMA_DDL, TARGET_PROPERTIES)
    batch_rows = stage.read(spark).where(F.col(lineage.BATCH_ID) == manifest.batch_id)
    latest = latest_per_key(batch_rows).select(*TARGET_COLUMNS).cache()
    try:
        rows_in_batch = batch_rows.count()
        keys_in_batch = latest.count()
        (
            target.delta_table(spark)
            .alias("t")
            .merge(latest.alias("s"), f"t.{KEY_COLUMN} = s.{KEY_COLUMN}")
            .whenMatchedUpdateAll(condition=NEWER_THAN_TARGET)
            .whenNotMatchedInsertAll()
            .execute()
        )
    finally:
        latest.unpersist()
    metrics = target.delta_table(spark).history(1).select("operationMetrics").collect()[0][0] or {}
    return MergeResult(
        batch_id=manifest.batch_id,
        rows_in_batch=rows_in_batch,
        keys_in_batch=keys_in_batch,
        inserted=int(metrics.get("numTargetRowsInserted", 0)),
        updated=int(metrics.get("numTargetRowsUpdated", 0)),
        target_rows=target.read(spark).count(),
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point (``merge``): merge the batch named by ``--manifest`` and write its result."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_job_args(sys.argv[1:] if argv is None else argv, description=__doc__ or "")
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    manifest = parse_manifest(storage.read_text(spark, args.manifest_uri))
    result = run_merge(spark, manifest, args.stage, args.target)
    storage.write_text(spark, manifest.merge_result_uri, result.to_json())
    log.info(
        "merged batch %s: %d inserted, %d updated, target has %d rows",
        result.batch_id,
        result.inserted,
        result.updated,
        result.target_rows,
    )

"""Stage-load job: read one batch of staging CSV objects into the append-only stage table.

Staging is idempotent per batch: the batch's rows replace any earlier attempt's rows for the same
``batch_id`` (Delta ``replaceWhere``) in one commit, so a retry never duplicates a batch.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_tasks import lineage, storage
from spark_tasks.cli import parse_job_args
from spark_tasks.contract import CSV_READ_OPTIONS, RAW_SCHEMA, TYPED_SCHEMA
from spark_tasks.manifest import BatchManifest, parse_manifest
from spark_tasks.tables import TableRef
from spark_tasks.transforms import parse_contract_columns, with_batch_lineage, with_object_lineage

log = logging.getLogger(__name__)

STAGE_SCHEMA_DDL = ", ".join(
    [f"{field.name} {field.dataType.simpleString()}" for field in TYPED_SCHEMA.fields]
    + [
        f"{lineage.BATCH_ID} string",
        f"{lineage.SOURCE_OBJECT} string",
        f"{lineage.OBJECT_SEQ} int",
        f"{lineage.RECORD_INDEX} int",
        f"{lineage.INGESTED_AT} timestamp",
    ]
)
STAGE_COLUMNS = [field.name for field in TYPED_SCHEMA.fields] + list(lineage.STAGE_LINEAGE_COLUMNS)


@dataclass(frozen=True)
class ObjectOutcome:
    name: str
    outcome: str  # loaded | quarantined | duplicate
    destination: str  # archive | quarantine
    records_read: int
    rows_loaded: int
    rows_rejected: int
    reason: str | None = None


@dataclass(frozen=True)
class StageResult:
    batch_id: str
    rows_staged: int
    objects: list[ObjectOutcome]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def read_batch(spark: SparkSession, manifest: BatchManifest) -> DataFrame:
    """Read the manifest's objects as contract text, one row per data record."""
    raw = spark.read.options(**CSV_READ_OPTIONS).schema(RAW_SCHEMA).csv(manifest.object_uris)
    return with_object_lineage(raw, manifest.seq_by_uri())


def to_stage_rows(records: DataFrame, manifest: BatchManifest) -> DataFrame:
    """Typed, lineage-stamped stage rows (records whose key or event time do not parse excluded)."""
    parsed = parse_contract_columns(records)
    valid = parsed.where(F.col("tracking_num").isNotNull() & F.col("event_ts").isNotNull())
    return with_batch_lineage(valid, manifest.batch_id, manifest.created_at).select(*STAGE_COLUMNS)


def run_stage_load(spark: SparkSession, manifest: BatchManifest, stage: TableRef) -> StageResult:
    """Stage one batch and describe, per object, what happened to it."""
    stage.create_if_missing(spark, STAGE_SCHEMA_DDL, {"delta.appendOnly": "false"})
    records = read_batch(spark, manifest).cache()
    try:
        rows = to_stage_rows(records, manifest)
        writer = (
            rows.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"{lineage.BATCH_ID} = '{manifest.batch_id}'")
        )
        stage.save(writer)
        staged = stage.read(spark).where(F.col(lineage.BATCH_ID) == manifest.batch_id)
        loaded_by_uri = {r[0]: r[1] for r in staged.groupBy(lineage.SOURCE_OBJECT).count().collect()}
        read_by_uri = {r[0]: r[1] for r in records.groupBy(lineage.SOURCE_OBJECT).count().collect()}
    finally:
        records.unpersist()
    outcomes = [
        ObjectOutcome(
            name=obj.name,
            outcome="loaded",
            destination="archive",
            records_read=read_by_uri.get(obj.uri, 0),
            rows_loaded=loaded_by_uri.get(obj.uri, 0),
            rows_rejected=read_by_uri.get(obj.uri, 0) - loaded_by_uri.get(obj.uri, 0),
        )
        for obj in manifest.objects
    ]
    return StageResult(batch_id=manifest.batch_id, rows_staged=sum(loaded_by_uri.values()), objects=outcomes)


def main(argv: list[str] | None = None) -> None:
    """Entry point (``stage_load``): stage the batch named by ``--manifest`` and write its result."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_job_args(sys.argv[1:] if argv is None else argv, description=__doc__ or "")
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    manifest = parse_manifest(storage.read_text(spark, args.manifest_uri))
    result = run_stage_load(spark, manifest, args.stage)
    storage.write_text(spark, manifest.stage_result_uri, result.to_json())
    log.info(
        "staged batch %s: %d rows from %d objects", result.batch_id, result.rows_staged, len(result.objects)
    )

"""Where our stage job's time goes: its phases run one by one, and the floor plus record lineage.

Run once after the timed repetitions, with the job's own functions: the header probe of every
object, the one pass that reads, validates and caches the records (and tallies them per object and
reject reason), the stage and rejects writes. Beside them, the floor with only the record lineage
added (``with_object_lineage``: object name, manifest position and read order) shows what that
lineage costs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from bench.timing import timed
from spark_tasks import stage_load
from spark_tasks.contract import CONTRACT_COLUMNS, CORRUPT_RECORD, CSV_READ_OPTIONS, SchemaPolicy
from spark_tasks.manifest import BatchManifest
from spark_tasks.reader import read_records, with_object_lineage, with_record_index
from spark_tasks.schemas import REJECTS_DDL, STAGE_DDL
from spark_tasks.tables import TableRef
from spark_tasks.validation import REJECT_REASON


@dataclass(frozen=True)
class Breakdown:
    """Seconds of each phase of one stage run, and of the floor-plus-numbering variant."""

    probe: float
    read_validate_cache_count: float
    stage_write: float
    rejects_write: float
    text_floor: float  # read as text with the job's CSV options, write: no typing, no numbering
    text_floor_with_lineage: float  # the same plus with_object_lineage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _write(frame: DataFrame, path: Path) -> None:
    frame.write.format("delta").mode("overwrite").save(str(path))


def _replace(table: TableRef, rows: DataFrame, batch_id: str) -> None:
    writer = rows.write.format("delta").mode("overwrite").option("replaceWhere", f"batch_id = '{batch_id}'")
    table.save(writer)


def measure(spark: SparkSession, manifest: BatchManifest, root: Path) -> Breakdown:
    policy = SchemaPolicy.ADD
    probe_s, probes = timed(lambda: stage_load.probe_objects(spark, manifest.objects, policy))
    readable = [(o, p.header.columns) for o, p in zip(manifest.objects, probes, strict=True) if p.header]
    classified = stage_load.classify_for_staging(read_records(spark, readable, policy)).cache()
    try:
        read_s, tallies = timed(lambda: stage_load.tally_records(classified))
        numbered = with_record_index(classified, {n: t.first_read_order for n, t in tallies.items()})
        stage, rejects = TableRef("stage_zn_new", str(root)), TableRef("rejects_zn_new", str(root))
        stage.create_if_missing(spark, STAGE_DDL, {})
        rejects.create_if_missing(spark, REJECTS_DDL, {})
        valid = numbered.where(F.col(REJECT_REASON).isNull())
        stage_s, _ = timed(
            lambda: _replace(stage, stage_load.stage_rows(valid, manifest, []), manifest.batch_id)
        )
        bad = numbered.where(F.col(REJECT_REASON).isNotNull())
        rejects_s, _ = timed(
            lambda: _replace(rejects, stage_load.reject_rows(bad, manifest), manifest.batch_id)
        )
    finally:
        classified.unpersist()
    schema = StructType([StructField(c, StringType()) for c in (*CONTRACT_COLUMNS, CORRUPT_RECORD)])
    text = spark.read.options(**CSV_READ_OPTIONS).schema(schema).csv([o.uri for o in manifest.objects])
    text_s, _ = timed(lambda: _write(text, root / "text_floor"))
    with_lineage = with_object_lineage(
        text.withColumn("_source_path", F.col("_metadata.file_path")), manifest.objects
    )
    lineage_s, _ = timed(lambda: _write(with_lineage, root / "text_floor_lineage"))
    return Breakdown(probe_s, read_s, stage_s, rejects_s, text_s, lineage_s)

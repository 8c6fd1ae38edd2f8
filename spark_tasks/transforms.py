"""Pure DataFrame-to-DataFrame steps of the stage and merge jobs (no I/O here)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_tasks import lineage
from spark_tasks.contract import CONTRACT_COLUMNS, KEY_COLUMN

_READ_ORDER = "_read_order"


def _clean_text(column: str) -> Column:
    """Trim a text field; an empty field is null."""
    trimmed = F.trim(F.col(column))
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def with_object_lineage(raw: DataFrame, seq_by_uri: dict[str, int]) -> DataFrame:
    """Name each record's source object, its manifest position and its 1-based record index.

    The index follows the order records were read in: a CSV object is never split across tasks
    when read with ``multiLine``, so the monotonically increasing id keeps file order.
    """
    seq_map = F.create_map(*[F.lit(x) for pair in seq_by_uri.items() for x in pair])
    with_source = raw.withColumn(lineage.SOURCE_OBJECT, F.col("_metadata.file_path")).withColumn(
        _READ_ORDER, F.monotonically_increasing_id()
    )
    by_object = Window.partitionBy(lineage.SOURCE_OBJECT).orderBy(_READ_ORDER)
    return (
        with_source.withColumn(lineage.RECORD_INDEX, F.row_number().over(by_object))
        .withColumn(lineage.OBJECT_SEQ, seq_map[F.col(lineage.SOURCE_OBJECT)])
        .drop(_READ_ORDER)
    )


def parse_contract_columns(raw: DataFrame) -> DataFrame:
    """Trim every field and turn contract text into typed values (null where a value does not parse)."""
    parsed = raw
    for column in CONTRACT_COLUMNS:
        parsed = parsed.withColumn(column, _clean_text(column))
    return (
        parsed.withColumn(KEY_COLUMN, F.upper(F.col(KEY_COLUMN)))
        .withColumn("status", F.upper(F.regexp_replace(F.col("status"), r"[ -]", "_")))
        .withColumn("event_ts", F.try_to_timestamp(F.col("event_ts")))
        .withColumn(
            "estimated_delivery_date",
            F.try_to_timestamp(F.col("estimated_delivery_date"), F.lit("yyyy-MM-dd")).cast("date"),
        )
    )


def with_batch_lineage(rows: DataFrame, batch_id: str, ingested_at: datetime) -> DataFrame:
    """Stamp rows with the batch they belong to and the batch's (deterministic) ingestion time."""
    return rows.withColumn(lineage.BATCH_ID, F.lit(batch_id)).withColumn(
        lineage.INGESTED_AT, F.lit(ingested_at).cast("timestamp")
    )


def latest_per_key(rows: DataFrame) -> DataFrame:
    """Keep one row per tracking number: the latest event, ties going to the later-ingested row."""
    newest_first = Window.partitionBy(KEY_COLUMN).orderBy(
        F.col("event_ts").desc(),
        F.col(lineage.INGESTED_AT).desc(),
        F.col(lineage.OBJECT_SEQ).desc(),
        F.col(lineage.RECORD_INDEX).desc(),
    )
    return rows.withColumn("_rank", F.row_number().over(newest_first)).where("_rank = 1").drop("_rank")

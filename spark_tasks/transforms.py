"""Ranking rows of one batch: which row per tracking number the merge offers to the target."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_tasks import lineage
from spark_tasks.contract import KEY_COLUMN


def latest_per_key(rows: DataFrame) -> DataFrame:
    """One row per tracking number: the latest event; ties go to the later batch, object, record."""
    newest_first = Window.partitionBy(KEY_COLUMN).orderBy(
        F.col("event_ts").desc(),
        F.col(lineage.INGESTED_AT).desc(),
        F.col(lineage.OBJECT_SEQ).desc(),
        F.col(lineage.RECORD_INDEX).desc(),
    )
    return rows.withColumn("_rank", F.row_number().over(newest_first)).where("_rank = 1").drop("_rank")

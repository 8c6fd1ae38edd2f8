"""The two ways people upsert without our merge job, run on the same staged batch.

- Full rewrite: union the target with the batch, keep the latest row per key (the same ordering
  rule as ours, so the result equals ours), overwrite the whole table.
- Notebook pattern: delete the batch's keys from the target (a Delta ``MERGE ... WHEN MATCHED
  DELETE``: Delta's ``DELETE`` takes no subquery), then append the batch's latest rows. It ignores
  event order: a stale event replaces a newer row, so it is faster to write but not correct for us.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_tasks import lineage
from spark_tasks.cli import JobArgs
from spark_tasks.contract import KEY_COLUMN
from spark_tasks.transforms import latest_per_key


def _batch(spark: SparkSession, args: JobArgs, batch_id: str) -> DataFrame:
    return args.stage.read(spark).where(F.col(lineage.BATCH_ID) == batch_id)


def full_rewrite(spark: SparkSession, args: JobArgs, batch_id: str) -> None:
    current = args.target.read(spark)
    columns = current.columns
    old = current.withColumns({lineage.OBJECT_SEQ: F.lit(0), lineage.RECORD_INDEX: F.lit(0)})
    both = old.unionByName(_batch(spark, args, batch_id).select(*old.columns))
    latest = latest_per_key(both).select(*columns)
    args.target.save(latest.write.format("delta").mode("overwrite"))


def delete_then_append(spark: SparkSession, args: JobArgs, batch_id: str) -> None:
    columns = args.target.read(spark).columns
    latest = latest_per_key(_batch(spark, args, batch_id)).select(*columns).cache()
    try:
        keys = latest.select(KEY_COLUMN)
        (
            args.target.delta_table(spark)
            .alias("t")
            .merge(keys.alias("s"), f"t.{KEY_COLUMN} = s.{KEY_COLUMN}")
            .whenMatchedDelete()
            .execute()
        )
        args.target.save(latest.write.format("delta").mode("append"))
    finally:
        latest.unpersist()

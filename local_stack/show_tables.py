"""``make tables``: print the local Delta tables (row counts, latest commits and a few rows)."""

from __future__ import annotations

import argparse

from delta.tables import DeltaTable

from local_stack.airflow_env import LOCAL_DIR
from local_stack.spark import build_local_spark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5)
    args = parser.parse_args()
    warehouse = LOCAL_DIR / "warehouse"
    tables = (
        sorted(p for p in warehouse.iterdir() if (p / "_delta_log").is_dir()) if warehouse.is_dir() else []
    )
    if not tables:  # said before Spark starts, which takes a while
        print(f"no Delta tables under {warehouse} yet: run `make run` first")
        return
    spark = build_local_spark("http://127.0.0.1:9", warehouse, app_name="order-tracking-tables")
    for path in tables:
        frame = spark.read.format("delta").load(str(path))
        print(f"\n== {path.name}: {frame.count()} rows  ({path})")
        DeltaTable.forPath(spark, str(path)).history(3).select(
            "version", "timestamp", "operation", "operationMetrics"
        ).show(truncate=80)
        frame.show(args.rows, truncate=40)
    spark.stop()


if __name__ == "__main__":
    main()

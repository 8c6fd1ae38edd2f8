"""Table schemas and their migration: created by Delta's builder, grown by ``ALTER TABLE ADD COLUMNS``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import DateType, IntegerType, LongType, StringType, StructField, StructType

from spark_tasks import merge, stage_load
from spark_tasks.contract import CONTRACT_VERSION
from spark_tasks.schemas import (
    AUDIT_SCHEMA,
    LEDGER_SCHEMA,
    REJECTS_SCHEMA,
    STAGE_SCHEMA,
    TARGET_PROPERTIES,
    TARGET_SCHEMA,
)
from spark_tasks.tables import TableRef, TableSchemaError, columns_to_add

PREVIOUS_RELEASE = Path(__file__).parent / "previous_release" / "tables.sql"
HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"

BASE = StructType([StructField("tracking_num", StringType()), StructField("n", LongType())])


def test_columns_to_add_are_the_missing_ones_in_schema_order() -> None:
    existing = StructType(
        [StructField("Tracking_Num", StringType()), StructField("producer_extra", StringType())]
    )
    wanted = StructType(
        [StructField("b", DateType()), StructField("tracking_num", StringType()), *BASE.fields[1:]]
    )
    assert [f.name for f in columns_to_add(existing, wanted)] == ["b", "n"]  # case-blind; extras stay
    assert columns_to_add(wanted, wanted) == []


def test_a_column_of_another_type_is_refused_naming_both_types() -> None:
    wanted = StructType([StructField("n", IntegerType()), StructField("m", StringType())])
    existing = StructType([StructField("N", StringType()), StructField("m", LongType())])
    with pytest.raises(
        TableSchemaError, match=r"n is string, the schema says int; m is bigint, the schema says string"
    ):
        columns_to_add(existing, wanted)


@pytest.mark.spark
def test_ensure_creates_once_then_adds_a_new_contract_column_over_old_rows(
    spark: Any, tmp_path: Path
) -> None:
    table = TableRef("t", str(tmp_path))
    assert table.ensure(spark, BASE, TARGET_PROPERTIES) == []
    properties = table.delta_table(spark).detail().collect()[0]["properties"]
    assert properties["delta.enableDeletionVectors"] == "true"
    spark.createDataFrame([("T1", 1)], BASE).write.format("delta").mode("append").save(table.path)

    grown = StructType([*BASE.fields, StructField("signed_by", StringType())])
    assert table.ensure(spark, grown) == ["signed_by"]
    assert table.ensure(spark, grown) == []  # reruns change nothing
    assert table.read(spark).schema == grown
    spark.createDataFrame([("T2", 2, "Ada")], grown).write.format("delta").mode("append").save(table.path)
    assert sorted(tuple(r) for r in table.read(spark).collect()) == [("T1", 1, None), ("T2", 2, "Ada")]


@pytest.mark.spark
def test_ensure_refuses_a_retyped_column_naming_the_table(spark: Any, tmp_path: Path) -> None:
    table = TableRef("t", str(tmp_path))
    table.ensure(spark, BASE)
    retyped = StructType([BASE.fields[0], StructField("n", StringType())])
    with pytest.raises(TableSchemaError, match=r"table delta\.`.*/t`: n is bigint, the schema says string"):
        table.ensure(spark, retyped)


@pytest.mark.spark
def test_todays_jobs_migrate_the_previous_releases_tables(spark: Any, put_batch: Any, tmp_path: Path) -> None:
    for statement in PREVIOUS_RELEASE.read_text().format(root=tmp_path).split(";\n"):
        if statement.strip():
            spark.sql(statement)
    args = [
        "--manifest",
        put_batch("new", {"n.csv": HEADER + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"}),
    ]
    stage_load.main([*args, "--tables-root", str(tmp_path)])
    merge.main([*args, "--tables-root", str(tmp_path)])

    def read(name: str) -> Any:
        return spark.read.format("delta").load(str(tmp_path / name))

    for name, schema in (
        ("stage_zn_new", STAGE_SCHEMA),
        ("rejects_zn_new", REJECTS_SCHEMA),
        ("ledger_zn_new", LEDGER_SCHEMA),
        ("target_zn_new", TARGET_SCHEMA),
        ("audit_zn_new", AUDIT_SCHEMA),
    ):
        assert read(name).schema == schema, name
    ledger = {r.batch_id: (r.object_seq, r.contract_version) for r in read("ledger_zn_new").collect()}
    assert ledger == {"old": (None, None), "new": (1, CONTRACT_VERSION)}
    audit = {r.batch_id: (r.updated, r.contract_version) for r in read("audit_zn_new").collect()}
    assert audit == {"old": (0, None), "new": (1, CONTRACT_VERSION)}
    assert [(r.status, r.batch_id) for r in read("target_zn_new").collect()] == [("DELIVERED", "new")]

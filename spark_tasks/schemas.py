"""Schemas of the pipeline's Delta tables (stage, target, rejects, ledger, audit) as ``StructType``.

A table's schema only grows: a column added here reaches tables created by an earlier release
through :meth:`spark_tasks.tables.TableRef.ensure`, which adds missing columns (``ALTER TABLE ...
ADD COLUMNS``) and never drops or retypes one. So new columns go at the end of their schema, in
the order they were added, and old rows read them as null. History of additions:

- ledger ``object_seq`` (the object's place in its batch): after the first release;
- ledger and audit ``contract_version`` (:data:`spark_tasks.contract.CONTRACT_VERSION` of the jobs
  that wrote the row): with the typed schemas.
"""

from __future__ import annotations

from pyspark.sql.types import (
    DataType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_tasks import lineage
from spark_tasks.contract import TYPED_SCHEMA

CONTRACT_VERSION_COLUMN = "contract_version"


def _fields(*columns: tuple[str, DataType]) -> list[StructField]:
    return [StructField(name, data_type) for name, data_type in columns]


STAGE_SCHEMA = StructType(
    [
        *TYPED_SCHEMA.fields,
        *_fields(
            (lineage.BATCH_ID, StringType()),
            (lineage.SOURCE_OBJECT, StringType()),
            (lineage.OBJECT_SEQ, IntegerType()),
            (lineage.RECORD_INDEX, IntegerType()),
            (lineage.INGESTED_AT, TimestampType()),
        ),
    ]
)
TARGET_SCHEMA = StructType(
    [
        *TYPED_SCHEMA.fields,
        *_fields(
            (lineage.SOURCE_OBJECT, StringType()),
            (lineage.BATCH_ID, StringType()),
            (lineage.INGESTED_AT, TimestampType()),
        ),
    ]
)
REJECTS_SCHEMA = StructType(
    _fields(
        ("batch_id", StringType()),
        ("source_object", StringType()),
        ("record_index", IntegerType()),
        ("reason", StringType()),
        ("detail", StringType()),
        ("raw_record", StringType()),
        ("rejected_at", TimestampType()),
    )
)
LEDGER_SCHEMA = StructType(
    _fields(
        ("batch_id", StringType()),
        ("object_name", StringType()),
        ("generation", StringType()),
        ("size", LongType()),
        ("md5_hash", StringType()),
        ("crc32c", StringType()),
        ("outcome", StringType()),
        ("reason", StringType()),
        ("detail", StringType()),
        ("duplicate_of", StringType()),
        ("records_read", LongType()),
        ("rows_loaded", LongType()),
        ("rows_rejected", LongType()),
        ("recorded_at", TimestampType()),
        ("object_seq", IntegerType()),
        (CONTRACT_VERSION_COLUMN, IntegerType()),
    )
)
AUDIT_SCHEMA = StructType(
    _fields(
        ("batch_id", StringType()),
        ("objects", IntegerType()),
        ("objects_loaded", IntegerType()),
        ("objects_quarantined", IntegerType()),
        ("objects_duplicate", IntegerType()),
        ("records_read", LongType()),
        ("rows_loaded", LongType()),
        ("rows_rejected", LongType()),
        ("keys_in_batch", LongType()),
        ("superseded_in_batch", LongType()),
        ("inserted", LongType()),
        ("updated", LongType()),
        ("stale_skipped", LongType()),
        ("target_rows", LongType()),
        ("target_version", LongType()),
        ("merged_at", TimestampType()),
        (CONTRACT_VERSION_COLUMN, IntegerType()),
    )
)

# Deletion vectors let MERGE mark replaced rows instead of rewriting whole files (OSS Delta >= 3.1).
TARGET_PROPERTIES = {"delta.enableDeletionVectors": "true"}

"""DDL of the pipeline's Delta tables: stage, target, rejects, ledger and audit."""

from __future__ import annotations

from spark_tasks import lineage
from spark_tasks.contract import TYPED_SCHEMA

_CONTRACT = [f"{field.name} {field.dataType.simpleString()}" for field in TYPED_SCHEMA.fields]

STAGE_DDL = ", ".join(
    [
        *_CONTRACT,
        f"{lineage.BATCH_ID} string",
        f"{lineage.SOURCE_OBJECT} string",
        f"{lineage.OBJECT_SEQ} int",
        f"{lineage.RECORD_INDEX} int",
        f"{lineage.INGESTED_AT} timestamp",
    ]
)
TARGET_DDL = ", ".join(
    [
        *_CONTRACT,
        f"{lineage.SOURCE_OBJECT} string",
        f"{lineage.BATCH_ID} string",
        f"{lineage.INGESTED_AT} timestamp",
    ]
)
REJECTS_DDL = (
    "batch_id string, source_object string, record_index int, reason string, detail string, "
    "raw_record string, rejected_at timestamp"
)
# object_seq (the object's place in its batch) came after the first release: ledger writes merge
# the schema, so a ledger created before it gains the column on its next write.
LEDGER_DDL = (
    "batch_id string, object_name string, generation string, size bigint, md5_hash string, crc32c string, "
    "outcome string, reason string, detail string, duplicate_of string, records_read bigint, "
    "rows_loaded bigint, rows_rejected bigint, recorded_at timestamp, object_seq int"
)
AUDIT_DDL = (
    "batch_id string, objects int, objects_loaded int, objects_quarantined int, objects_duplicate int, "
    "records_read bigint, rows_loaded bigint, rows_rejected bigint, keys_in_batch bigint, "
    "superseded_in_batch bigint, inserted bigint, updated bigint, stale_skipped bigint, target_rows bigint, "
    "target_version bigint, merged_at timestamp"
)

# Deletion vectors let MERGE mark replaced rows instead of rewriting whole files (OSS Delta >= 3.1).
TARGET_PROPERTIES = {"delta.enableDeletionVectors": "true"}

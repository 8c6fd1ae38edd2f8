"""Names of the lineage and ordering columns that stage and target rows carry."""

from __future__ import annotations

BATCH_ID = "batch_id"
SOURCE_OBJECT = "source_object"
INGESTED_AT = "ingested_at"
OBJECT_SEQ = "object_seq"  # position of the object in the batch manifest (oldest first)
RECORD_INDEX = "record_index"  # 1-based index of the data record inside its object

STAGE_LINEAGE_COLUMNS: tuple[str, ...] = (BATCH_ID, SOURCE_OBJECT, OBJECT_SEQ, RECORD_INDEX, INGESTED_AT)
TARGET_LINEAGE_COLUMNS: tuple[str, ...] = (SOURCE_OBJECT, BATCH_ID, INGESTED_AT)

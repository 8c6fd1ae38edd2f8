"""The feed contract (v1): the one place that says what a staging CSV object must look like.

Everything else (readers, transforms, docs, tests) takes column names, types and rules from here.
"""

from __future__ import annotations

from pyspark.sql.types import DateType, StringType, StructField, StructType, TimestampType

CONTRACT_VERSION = 1

KEY_COLUMN = "tracking_num"
REQUIRED_COLUMNS: tuple[str, ...] = ("tracking_num", "order_id", "carrier", "status", "event_ts")
OPTIONAL_COLUMNS: tuple[str, ...] = ("location", "estimated_delivery_date")
CONTRACT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

STATUSES: tuple[str, ...] = (
    "LABEL_CREATED",
    "PICKED_UP",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "EXCEPTION",
    "RETURNED",
    "CANCELLED",
)

# How the CSV is read: every contract column as text first, so that a bad value becomes a row we
# can explain instead of a silent null from Spark's own casting.
RAW_SCHEMA = StructType([StructField(name, StringType(), nullable=True) for name in CONTRACT_COLUMNS])

# The typed shape of a contract row once parsed.
TYPED_SCHEMA = StructType(
    [
        StructField("tracking_num", StringType(), nullable=False),
        StructField("order_id", StringType(), nullable=True),
        StructField("carrier", StringType(), nullable=True),
        StructField("status", StringType(), nullable=True),
        StructField("event_ts", TimestampType(), nullable=False),
        StructField("location", StringType(), nullable=True),
        StructField("estimated_delivery_date", DateType(), nullable=True),
    ]
)

CSV_READ_OPTIONS: dict[str, str] = {
    "header": "true",
    "multiLine": "true",  # RFC 4180 quoted newlines
    "encoding": "UTF-8",
    "quote": '"',
    "escape": '"',
    "ignoreLeadingWhiteSpace": "true",
    "ignoreTrailingWhiteSpace": "true",
    "mode": "PERMISSIVE",
}

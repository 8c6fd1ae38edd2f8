"""The feed contract (v1): the one place that says what a staging CSV object must look like.

Readers, validation, docs and tests take column names, rules, reason codes and quarantine reasons
from here. The README's "Feed contract" section describes the same rules for people.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

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
TRACKING_NUM_PATTERN = r"^[A-Z0-9_-]{1,64}$"
# ISO-8601 date-time: 'T' or space, optional fraction up to microseconds, optional Z or +-HH:MM.
EVENT_TS_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"

# The typed shape of a contract row once parsed (the stage and target tables start from it).
TYPED_SCHEMA = StructType(
    [
        StructField("tracking_num", StringType()),
        StructField("order_id", StringType()),
        StructField("carrier", StringType()),
        StructField("status", StringType()),
        StructField("event_ts", TimestampType()),
        StructField("location", StringType()),
        StructField("estimated_delivery_date", DateType()),
    ]
)

CORRUPT_RECORD = "_corrupt_record"
RESCUED_DATA = "_rescued_data"

# How Spark reads an object once its header is known: every column as text, so that a bad value
# becomes a reject we can explain instead of a silent null; wrong field counts land in
# CORRUPT_RECORD with the raw record.
CSV_READ_OPTIONS: dict[str, str] = {
    "header": "true",
    "multiLine": "true",  # RFC 4180 quoted newlines; an object is then never split across tasks
    "encoding": "UTF-8",
    "quote": '"',
    "escape": '"',
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT_RECORD,
}


class RejectReason(StrEnum):
    """Why a record was rejected; the first that applies, in this order."""

    MALFORMED_ROW = "malformed_row"
    MISSING_REQUIRED = "missing_required"  # written as missing_required:<column>
    INVALID_TRACKING_NUM = "invalid_tracking_num"
    INVALID_STATUS = "invalid_status"
    INVALID_EVENT_TS = "invalid_event_ts"
    INVALID_ESTIMATED_DELIVERY_DATE = "invalid_estimated_delivery_date"


class QuarantineReason(StrEnum):
    """Why a whole object was quarantined (nothing of it loads)."""

    EMPTY_OBJECT = "empty_object"
    NOT_UTF8 = "not_utf8"
    NO_HEADER = "no_header"
    MISSING_REQUIRED_COLUMNS = "missing_required_columns"
    DUPLICATE_COLUMNS = "duplicate_columns"
    UNKNOWN_COLUMNS = "unknown_columns"  # schema policy 'fail'
    INVALID_COLUMN_NAME = "invalid_column_name"


class SchemaPolicy(StrEnum):
    """What happens to columns the contract does not know."""

    ADD = "add"  # added to stage and target as nullable strings
    RESCUE = "rescue"  # kept as a JSON object in RESCUED_DATA
    FAIL = "fail"  # the object is quarantined


_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


@dataclass(frozen=True)
class HeaderCheck:
    """The verdict on an object's header: its normalised columns, or why it is quarantined."""

    columns: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    quarantine: QuarantineReason | None = None
    detail: str = ""


def normalize_column(name: str) -> str:
    """Header names are trimmed and case-insensitive."""
    return name.strip().lower()


def check_header(names: list[str], policy: SchemaPolicy) -> HeaderCheck:
    """Apply the header rules: required columns, no duplicates, unknown columns per the policy."""
    columns = tuple(normalize_column(name) for name in names)
    duplicates = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicates:
        return HeaderCheck(
            columns,
            quarantine=QuarantineReason.DUPLICATE_COLUMNS,
            detail=f"duplicate column names: {', '.join(duplicates)}",
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        return HeaderCheck(
            columns,
            quarantine=QuarantineReason.MISSING_REQUIRED_COLUMNS,
            detail=f"missing required columns: {', '.join(missing)}",
        )
    unknown = tuple(c for c in columns if c not in CONTRACT_COLUMNS)
    if unknown and policy is SchemaPolicy.FAIL:
        return HeaderCheck(
            columns,
            unknown,
            QuarantineReason.UNKNOWN_COLUMNS,
            f"columns not in the contract (schema policy 'fail'): {', '.join(unknown)}",
        )
    bad_names = [c for c in unknown if not _COLUMN_NAME.match(c)]
    if bad_names:
        return HeaderCheck(
            columns,
            unknown,
            QuarantineReason.INVALID_COLUMN_NAME,
            "unknown columns must be letters, digits and underscores, starting with a "
            f"letter: {', '.join(repr(c) for c in bad_names)}",
        )
    return HeaderCheck(columns, unknown)

"""The feed contract (v1): the one place that says what a staging CSV object must look like.

Readers, validation, docs and tests take column names, rules, reason codes and quarantine reasons
from here. The README's "Feed contract" section describes the same rules for people.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from pyspark.sql.types import DateType, StringType, StructField, StructType, TimestampType

from batch_documents import SchemaPolicy  # also the jobs' schema_policy parameter
from spark_tasks import lineage

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
# Whitespace is the Unicode White_Space property (PropList.txt; java.util.regex \p{IsWhite_Space}):
# TAB, LF, VT, FF, CR, space, NEL, NBSP, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
# U+3000. Fields and header names are trimmed of it; a line of nothing else is a blank line.
# Python strips WHITESPACE, Spark a WHITESPACE_CLASS regex: str.strip() with no argument and
# Spark's trim use other sets (str.isspace, which adds U+001C-U+001F; the space only).
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
WHITESPACE_CLASS = "[" + "".join(f"\\u{ord(c):04X}" for c in WHITESPACE) + "]"  # a java.util.regex class

# Validation patterns are java.util.regex (Spark's rlike, which finds a match anywhere): they are
# anchored with \A and \z, because Java's $ (and \Z) also match before a final line terminator.
TRACKING_NUM_PATTERN = r"\A[A-Z0-9_-]{1,64}\z"
# ISO-8601 date-time: 'T' or space, optional fraction up to microseconds, optional Z or +-HH:MM.
EVENT_TS_PATTERN = r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?\z"
DATE_PATTERN = r"\A\d{4}-\d{2}-\d{2}\z"

# The valid range of event_ts (after conversion to UTC) and of estimated_delivery_date: the years
# FIRST_YEAR to LAST_YEAR; outside it a value is rejected like one that does not parse.
FIRST_YEAR, LAST_YEAR = 1900, 2199
EVENT_TS_MIN = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)  # inclusive
EVENT_TS_END = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)  # exclusive
DATE_MIN, DATE_MAX = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)  # both inclusive

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
    # Lines end at LF: without lineSep Spark takes the separator from the first line ending (LF or
    # CRLF) and misreads the other one. A CRLF line's CR is then left at the end of its last
    # field: reader.lines_as_records removes it.
    "lineSep": "\n",
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
    RESERVED_COLUMN_NAME = "reserved_column_name"
    UNREADABLE = "unreadable"  # reading the object failed the Spark job; the error is the detail


_COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,127}")

# The pipeline's own namespace. Every working column of the jobs starts with RESERVED_PREFIX (which
# producer names cannot: they start with a letter), and the lineage and bookkeeping columns that the
# tables carry are reserved by name, so our columns can never overwrite, drop or be confused with a
# producer's values. `path` and `filepath` are Delta's: a MERGE into a table with deletion vectors and
# a `path` column fails with an ambiguous `filePath` reference (delta-io/delta 5296).
RESERVED_PREFIX = "_"
RESERVED_COLUMN_NAMES: frozenset[str] = frozenset(
    {*lineage.STAGE_LINEAGE_COLUMNS, *lineage.TARGET_LINEAGE_COLUMNS, "path", "filepath"}
)


def is_reserved_column(name: str) -> bool:
    """True for a (normalised) column name in the pipeline's own namespace."""
    return name.startswith(RESERVED_PREFIX) or name in RESERVED_COLUMN_NAMES


@dataclass(frozen=True)
class HeaderCheck:
    """The verdict on an object's header: its normalised columns, or why it is quarantined."""

    columns: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    quarantine: QuarantineReason | None = None
    detail: str = ""


ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ASCII_LOWER = ASCII_UPPER.lower()
_TO_ASCII_LOWER = str.maketrans(ASCII_UPPER, ASCII_LOWER)


def normalize_column(name: str) -> str:
    """Header names are trimmed (of WHITESPACE, the Unicode White_Space property) and ASCII case-insensitive.

    Only A-Z fold: Unicode case mapping would turn other letters into ours (the Kelvin sign U+212A into
    k, the long s U+017F into s), and two different names must never become one.
    """
    return name.strip(WHITESPACE).translate(_TO_ASCII_LOWER)


def check_header(names: list[str], policy: SchemaPolicy) -> HeaderCheck:
    """Apply the header rules: required columns, no duplicates, unknown columns per the policy."""
    columns = tuple(normalize_column(name) for name in names)
    duplicates = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicates:
        return HeaderCheck(
            columns,
            quarantine=QuarantineReason.DUPLICATE_COLUMNS,
            detail=f"duplicate column names: {', '.join(repr(name) for name in duplicates)}",
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        return HeaderCheck(
            columns,
            quarantine=QuarantineReason.MISSING_REQUIRED_COLUMNS,
            detail=f"missing required columns: {', '.join(missing)} "
            f"(the header has: {', '.join(repr(name) for name in columns)})",
        )
    unknown = tuple(c for c in columns if c not in CONTRACT_COLUMNS)
    reserved = [c for c in unknown if is_reserved_column(c)]
    if reserved:
        return HeaderCheck(
            columns,
            unknown,
            QuarantineReason.RESERVED_COLUMN_NAME,
            f"column names reserved for the pipeline's own columns (names starting with "
            f"'{RESERVED_PREFIX}', lineage and Delta metadata names): {', '.join(repr(c) for c in reserved)}",
        )
    if unknown and policy is SchemaPolicy.FAIL:
        return HeaderCheck(
            columns,
            unknown,
            QuarantineReason.UNKNOWN_COLUMNS,
            f"columns not in the contract (schema policy 'fail'): {', '.join(unknown)}",
        )
    bad_names = [c for c in unknown if not _COLUMN_NAME.fullmatch(c)]
    if bad_names:
        return HeaderCheck(
            columns,
            unknown,
            QuarantineReason.INVALID_COLUMN_NAME,
            "unknown columns must be letters, digits and underscores, starting with a "
            f"letter: {', '.join(repr(c) for c in bad_names)}",
        )
    return HeaderCheck(columns, unknown)

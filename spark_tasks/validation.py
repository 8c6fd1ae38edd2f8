"""Record validation: normalise contract fields, type them, and name the first rule a record breaks."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_tasks.contract import (
    ASCII_LOWER,
    ASCII_UPPER,
    CONTRACT_COLUMNS,
    CORRUPT_RECORD,
    DATE_MAX,
    DATE_MIN,
    DATE_PATTERN,
    EVENT_TS_END,
    EVENT_TS_MIN,
    EVENT_TS_PATTERN,
    FIRST_YEAR,
    LAST_YEAR,
    REQUIRED_COLUMNS,
    STATUSES,
    TRACKING_NUM_PATTERN,
    WHITESPACE_CLASS,
    RejectReason,
    is_reserved_column,
)

REJECT_REASON = "_reject_reason"
REJECT_DETAIL = "_reject_detail"
REPLACEMENT_CHAR = "\ufffd"  # what a UTF-8 decoder puts where bytes are not valid UTF-8
# Leading and trailing whitespace; the trailing run is tried only from its first character (the
# look-behind), else a long whitespace run inside a field is rescanned from each of its characters.
_ENDS_OF_WHITESPACE = rf"\A{WHITESPACE_CLASS}+|(?<!{WHITESPACE_CLASS}){WHITESPACE_CLASS}+\z"


def trim_whitespace(text: Column) -> Column:
    """``text`` without leading and trailing whitespace, the Unicode White_Space property.

    The set is ``contract.WHITESPACE`` (header names are trimmed of the same set in Python); Spark's
    ``trim`` removes spaces only. ``\\z`` is the true end of the text (java.util.regex), where ``$``
    would also match before a final line terminator.
    """
    return F.regexp_replace(text, _ENDS_OF_WHITESPACE, "")


def ascii_upper(text: Column) -> Column:
    """``text`` with a-z upper-cased and nothing else.

    Spark's ``upper`` follows Unicode case mapping, which turns the long s U+017F into S, U+00DF
    into SS and the dotless i U+0131 into I, so two parcels could become one. Other letters stay
    as they are, and the contract's patterns then reject them.
    """
    return F.translate(text, ASCII_LOWER, ASCII_UPPER)


def _clean(column: str) -> Column:
    """Trimmed text; an empty field is null."""
    trimmed = trim_whitespace(F.col(column))
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def normalize_fields(records: DataFrame) -> DataFrame:
    """Trim every producer field (contract and added columns), upper-case the key, spell statuses.

    The pipeline's own columns (``contract.is_reserved_column``) are left as they are.
    """
    fields = [c for c in records.columns if c in CONTRACT_COLUMNS or not is_reserved_column(c)]
    cleaned = records.withColumns({c: _clean(c) for c in fields})
    return cleaned.withColumns(
        {
            "tracking_num": ascii_upper(F.col("tracking_num")),
            "status": ascii_upper(F.regexp_replace("status", r"[ -]", "_")),
        }
    )


def _event_ts(text: Column) -> Column:
    """The instant of an ISO-8601 date-time text (no offset: the session time zone, UTC); else null."""
    return F.try_to_timestamp(text)


def _date(text: Column) -> Column:
    """The calendar date of a ``YYYY-MM-DD`` text; else null."""
    return F.try_to_timestamp(text, F.lit("yyyy-MM-dd")).cast("date")


def _first_failure() -> tuple[Column, Column]:
    """(reason, detail) of the first rule broken, in the contract's order; null when valid."""
    ts_text, date_text = F.col("event_ts"), F.col("estimated_delivery_date")
    ts, day = _event_ts(ts_text), _date(date_text)
    # Values outside the contract's years are rejected, never stored (a timestamp of year 10000 in
    # UTC parses in Spark, but Python's datetime cannot hold it: collect() would raise).
    years = f"in the years {FIRST_YEAR}-{LAST_YEAR}"
    checks: list[tuple[Column, Column, Column]] = [
        (
            F.col(CORRUPT_RECORD).isNotNull(),
            F.lit(RejectReason.MALFORMED_ROW.value),
            F.lit("the record does not have the header's number of fields"),
        ),
    ]
    for column in REQUIRED_COLUMNS:
        checks.append(
            (
                F.col(column).isNull(),
                F.lit(f"{RejectReason.MISSING_REQUIRED.value}:{column}"),
                F.lit(f"required column '{column}' is empty"),
            )
        )
    checks += [
        (
            ~F.col("tracking_num").rlike(TRACKING_NUM_PATTERN),
            F.lit(RejectReason.INVALID_TRACKING_NUM.value),
            F.concat(
                F.lit("tracking_num must match [A-Z0-9_-]{1,64}, got '"), F.col("tracking_num"), F.lit("'")
            ),
        ),
        (
            ~F.col("status").isin(*STATUSES),
            F.lit(RejectReason.INVALID_STATUS.value),
            F.concat(
                F.lit("status must be one of " + ", ".join(STATUSES) + "; got '"), F.col("status"), F.lit("'")
            ),
        ),
        (
            ~ts_text.rlike(EVENT_TS_PATTERN)
            | ts.isNull()
            | (ts < F.lit(EVENT_TS_MIN))
            | (ts >= F.lit(EVENT_TS_END)),
            F.lit(RejectReason.INVALID_EVENT_TS.value),
            F.concat(
                F.lit(f"event_ts must be an ISO-8601 date-time {years} in UTC, got '"), ts_text, F.lit("'")
            ),
        ),
        (
            date_text.isNotNull()
            & (
                ~date_text.rlike(DATE_PATTERN)
                | day.isNull()
                | (day < F.lit(DATE_MIN))
                | (day > F.lit(DATE_MAX))
            ),
            F.lit(RejectReason.INVALID_ESTIMATED_DELIVERY_DATE.value),
            F.concat(
                F.lit(f"estimated_delivery_date must be a calendar date YYYY-MM-DD {years}, got '"),
                date_text,
                F.lit("'"),
            ),
        ),
    ]
    reason: Column = F.lit(None).cast("string")
    detail: Column = F.lit(None).cast("string")
    for broken, why, what in reversed(checks):  # build the CASE so that the first check wins
        reason = F.when(broken, why).otherwise(reason)
        detail = F.when(broken, what).otherwise(detail)
    return reason, detail


def with_reject_reason(normalized: DataFrame) -> DataFrame:
    """``reject_reason`` / ``reject_detail`` of records already normalised (both null when valid)."""
    reason, detail = _first_failure()
    return normalized.withColumns({REJECT_REASON: reason, REJECT_DETAIL: detail})


def classify_records(records: DataFrame) -> DataFrame:
    """Normalised records with ``reject_reason`` / ``reject_detail`` (both null for a valid record)."""
    return with_reject_reason(normalize_fields(records))


def typed(valid: DataFrame) -> DataFrame:
    """Contract text of valid records as typed values (event_ts in UTC, per the session time zone)."""
    return valid.withColumns(
        {
            "event_ts": _event_ts(F.col("event_ts")),
            "estimated_delivery_date": _date(F.col("estimated_delivery_date")),
        }
    )


def has_replacement_char(columns: list[str]) -> Column:
    """True where any of ``columns`` holds U+FFFD, the mark of bytes that were not valid UTF-8."""
    return F.greatest(*[F.coalesce(F.instr(F.col(c), REPLACEMENT_CHAR) > 0, F.lit(False)) for c in columns])

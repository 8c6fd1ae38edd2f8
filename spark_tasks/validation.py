"""Record validation: normalise contract fields, type them, and name the first rule a record breaks."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_tasks.contract import (
    CONTRACT_COLUMNS,
    CORRUPT_RECORD,
    DATE_PATTERN,
    EVENT_TS_PATTERN,
    REQUIRED_COLUMNS,
    STATUSES,
    TRACKING_NUM_PATTERN,
    RejectReason,
)

REJECT_REASON = "reject_reason"
REJECT_DETAIL = "reject_detail"
REPLACEMENT_CHAR = "\ufffd"  # what a UTF-8 decoder puts where bytes are not valid UTF-8


def _clean(column: str) -> Column:
    """Trimmed text; an empty field is null."""
    trimmed = F.trim(F.col(column))
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def normalize_fields(records: DataFrame) -> DataFrame:
    """Trim every contract field, upper-case the key, and spell statuses the contract's way."""
    cleaned = records.withColumns({c: _clean(c) for c in CONTRACT_COLUMNS})
    return cleaned.withColumns(
        {
            "tracking_num": F.upper("tracking_num"),
            "status": F.upper(F.regexp_replace("status", r"[ -]", "_")),
        }
    )


def _first_failure() -> tuple[Column, Column]:
    """(reason, detail) of the first rule broken, in the contract's order; null when valid."""
    ts_text, date_text = F.col("event_ts"), F.col("estimated_delivery_date")
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
            ~ts_text.rlike(EVENT_TS_PATTERN) | F.try_to_timestamp(ts_text).isNull(),
            F.lit(RejectReason.INVALID_EVENT_TS.value),
            F.concat(F.lit("event_ts must be an ISO-8601 date-time, got '"), ts_text, F.lit("'")),
        ),
        (
            date_text.isNotNull()
            & (~date_text.rlike(DATE_PATTERN) | F.try_to_timestamp(date_text, F.lit("yyyy-MM-dd")).isNull()),
            F.lit(RejectReason.INVALID_ESTIMATED_DELIVERY_DATE.value),
            F.concat(
                F.lit("estimated_delivery_date must be a calendar date YYYY-MM-DD, got '"),
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


def classify_records(records: DataFrame) -> DataFrame:
    """Normalised records with ``reject_reason`` / ``reject_detail`` (both null for a valid record)."""
    reason, detail = _first_failure()
    return normalize_fields(records).withColumns({REJECT_REASON: reason, REJECT_DETAIL: detail})


def typed(valid: DataFrame) -> DataFrame:
    """Contract text of valid records as typed values (event_ts in UTC, per the session time zone)."""
    return valid.withColumns(
        {
            "event_ts": F.try_to_timestamp("event_ts"),
            "estimated_delivery_date": F.try_to_timestamp(
                "estimated_delivery_date", F.lit("yyyy-MM-dd")
            ).cast("date"),
        }
    )


def has_replacement_char(columns: list[str]) -> Column:
    """True where any of ``columns`` holds U+FFFD, the mark of bytes that were not valid UTF-8."""
    return F.greatest(*[F.coalesce(F.instr(F.col(c), REPLACEMENT_CHAR) > 0, F.lit(False)) for c in columns])

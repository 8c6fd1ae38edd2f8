"""Record validation on real Spark: normalisation, typing, and every reject code in contract order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pyspark.sql import functions as F

from spark_tasks.contract import (
    CONTRACT_COLUMNS,
    CORRUPT_RECORD,
    DATE_PATTERN,
    EVENT_TS_PATTERN,
    TRACKING_NUM_PATTERN,
    WHITESPACE,
    WHITESPACE_CLASS,
)
from spark_tasks.validation import REJECT_DETAIL, REJECT_REASON, classify_records, typed, with_reject_reason

pytestmark = pytest.mark.spark
VALID = {
    "tracking_num": "T1",
    "order_id": "O1",
    "carrier": "UPS",
    "status": "DELIVERED",
    "event_ts": "2026-11-26T10:00:00Z",
    "location": None,
    "estimated_delivery_date": "2026-11-30",
}


def _records(spark: Any, *rows: dict[str, str | None]) -> Any:
    columns = [*CONTRACT_COLUMNS, CORRUPT_RECORD]
    data = [tuple({**VALID, CORRUPT_RECORD: None, **row}[c] for c in columns) for row in rows]
    return spark.createDataFrame(data, ", ".join(f"{c} string" for c in columns))


def test_fields_are_trimmed_normalised_and_typed(spark: Any) -> None:
    records = _records(
        spark,
        {
            "tracking_num": " 1zab-9 ",
            "order_id": " O1 ",
            "status": "in transit",
            "event_ts": "2026-11-26T10:00:00+02:00",
            "location": "  ",
        },
        {"tracking_num": "T2", "status": "Out-For-Delivery", "event_ts": "2026-11-26 08:00:00.123456"},
    )
    classified = classify_records(records)
    assert classified.where(f"{REJECT_REASON} IS NOT NULL").count() == 0
    rows = {r.tracking_num: r for r in typed(classified).collect()}
    first, second = rows["1ZAB-9"], rows["T2"]
    assert (first.order_id, first.status, first.location) == ("O1", "IN_TRANSIT", None)
    assert first.event_ts.replace(tzinfo=UTC) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # offset -> UTC
    assert first.estimated_delivery_date == date(2026, 11, 30)
    assert second.status == "OUT_FOR_DELIVERY"
    assert second.event_ts.replace(tzinfo=UTC) == datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({CORRUPT_RECORD: "T1,O1,UPS"}, "malformed_row"),
        ({"tracking_num": "  "}, "missing_required:tracking_num"),
        ({"order_id": None}, "missing_required:order_id"),
        ({"carrier": ""}, "missing_required:carrier"),
        ({"status": None}, "missing_required:status"),
        ({"event_ts": None}, "missing_required:event_ts"),
        ({"tracking_num": "T 1"}, "invalid_tracking_num"),
        ({"tracking_num": "X" * 65}, "invalid_tracking_num"),
        ({"status": "LOST"}, "invalid_status"),
        ({"event_ts": "26/11/2026 10:00"}, "invalid_event_ts"),
        ({"event_ts": "2026-02-30T10:00:00Z"}, "invalid_event_ts"),
        ({"event_ts": "2026-11-26T10:00:00.1234567Z"}, "invalid_event_ts"),
        ({"estimated_delivery_date": "2026-02-30"}, "invalid_estimated_delivery_date"),
        ({"estimated_delivery_date": "30.11.2026"}, "invalid_estimated_delivery_date"),
        ({"tracking_num": "T 1", "status": "LOST", "event_ts": "bad"}, "invalid_tracking_num"),  # first wins
        ({"status": "LOST", "estimated_delivery_date": "bad"}, "invalid_status"),
    ],
)
def test_each_rule_has_its_reject_code(spark: Any, row: dict[str, str | None], reason: str) -> None:
    (result,) = classify_records(_records(spark, row)).collect()
    assert result[REJECT_REASON] == reason
    assert result[REJECT_DETAIL]


def _code_points(spark: Any) -> Any:
    """Every Unicode code point but the surrogates, as ``(code_point, text)``."""
    # decoded after an 'A' so that U+FEFF is not taken for a byte order mark
    text = F.expr("substring(decode(unhex(concat('00000041', lpad(hex(id), 8, '0'))), 'utf-32'), 2)")
    return spark.range(0x110000).where("id < 55296 OR id > 57343").select(F.col("id"), text.alias("text"))


def test_whitespace_is_the_unicode_white_space_property_in_java_regex(spark: Any) -> None:
    """WHITESPACE, its Java class and java.util.regex's \\p{IsWhite_Space} agree on every code point."""
    text = F.col("text")
    checked = _code_points(spark).select(
        "id",
        F.length(text).alias("length"),
        text.rlike(rf"\A{WHITESPACE_CLASS}\z").alias("ours"),
        text.rlike(r"\A\p{IsWhite_Space}\z").alias("java"),
    )
    found = checked.where("ours OR java OR length != 1").collect()
    assert sorted((chr(r.id), r.length, r.ours, r.java) for r in found) == [
        (c, 1, True, True) for c in WHITESPACE
    ]


def test_every_white_space_character_is_trimmed_and_nothing_else(spark: Any) -> None:
    rows: list[dict[str, str | None]] = [
        {
            "tracking_num": f"{c}t{n}{c}",
            "order_id": f"{c}{c}O1",
            "status": f"{c}in transit{c}",
            "event_ts": f"{c}2026-11-26T10:00:00Z{c}",
            "location": c,
            "estimated_delivery_date": f"{c}2026-11-30{c}",
        }
        for n, c in enumerate(WHITESPACE)
    ]
    # not White_Space: information separators (str.isspace() is true for them), zero width space, BOM
    others = "\x1c\x1d\x1e\x1f\u200b\ufeff"
    rows += [{"tracking_num": f"{c}X{n}{c}"} for n, c in enumerate(others)]
    classified = classify_records(_records(spark, *rows)).collect()
    trimmed = sorted(
        (r for r in classified if r.tracking_num.startswith("T")), key=lambda r: int(r.tracking_num[1:])
    )
    assert [r.tracking_num for r in trimmed] == [f"T{n}" for n in range(len(WHITESPACE))]
    assert {
        (r.order_id, r.status, r.event_ts, r.location, r.estimated_delivery_date, r[REJECT_REASON])
        for r in trimmed
    } == {("O1", "IN_TRANSIT", "2026-11-26T10:00:00Z", None, "2026-11-30", None)}
    kept = {r.tracking_num: r[REJECT_REASON] for r in classified if not r.tracking_num.startswith("T")}
    assert kept == {f"{c}X{n}{c}": "invalid_tracking_num" for n, c in enumerate(others)}


# java.util.regex's $ and \Z also match before these, when they end the text
LINE_TERMINATORS = ["\n", "\r\n", "\r", "\u0085", "\u2028", "\u2029"]


def test_patterns_anchor_at_the_true_end_of_the_text(spark: Any) -> None:
    cases = [
        (pattern, value + ending, ending == "")
        for pattern, value in (
            (TRACKING_NUM_PATTERN, "AB1"),
            (EVENT_TS_PATTERN, "2026-11-26T10:00:00Z"),
            (EVENT_TS_PATTERN, "2026-11-26 10:00:00.123456+02:00"),
            (DATE_PATTERN, "2026-11-30"),
        )
        for ending in ["", *LINE_TERMINATORS]
    ]
    values = spark.createDataFrame([(value,) for _, value, _ in cases], "value string")
    matches = values.select(*[F.col("value").rlike(p).alias(f"m{n}") for n, (p, _, _) in enumerate(cases)])
    rows = matches.collect()
    got = [rows[n][f"m{n}"] for n in range(len(cases))]
    assert got == [valid for _, _, valid in cases]


def test_checks_of_untrimmed_values_reject_a_final_line_terminator(spark: Any) -> None:
    rows: list[dict[str, str | None]] = []
    for ending in LINE_TERMINATORS:
        rows += [
            {"tracking_num": "AB1" + ending},
            {"event_ts": "2026-11-26T10:00:00Z" + ending},
            {"estimated_delivery_date": "2026-11-30" + ending},
        ]
    checked = with_reject_reason(_records(spark, *rows))  # not normalised: nothing is trimmed
    reasons = [row[REJECT_REASON] for row in checked.collect()]
    assert reasons == ["invalid_tracking_num", "invalid_event_ts", "invalid_estimated_delivery_date"] * len(
        LINE_TERMINATORS
    )


EVENT_TS_EDGES: list[tuple[str, datetime | None]] = [
    ("1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=UTC)),
    ("1900-01-01 00:00:00", datetime(1900, 1, 1, tzinfo=UTC)),  # no offset: UTC
    ("1900-01-01T00:30:00+00:30", datetime(1900, 1, 1, tzinfo=UTC)),
    ("2199-12-31T23:59:59.999999Z", datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2200-01-01T00:30:00+01:00", datetime(2199, 12, 31, 23, 30, tzinfo=UTC)),
    ("1900-01-01T00:30:00+01:00", None),  # 1899 in UTC
    ("1899-12-31T23:59:59.999999Z", None),
    ("2200-01-01T00:00:00Z", None),
    ("2199-12-31T23:30:00-01:00", None),  # 2200 in UTC
    ("0001-01-01T00:00:00Z", None),
    ("0000-01-01T00:00:00Z", None),
    ("9999-12-31T23:59:59-12:00", None),  # year 10000 in UTC
]
DATE_EDGES: list[tuple[str, date | None]] = [
    ("1900-01-01", date(1900, 1, 1)),
    ("2199-12-31", date(2199, 12, 31)),
    ("1899-12-31", None),
    ("2200-01-01", None),
    ("0001-01-01", None),
    ("0000-01-01", None),
    ("9999-12-31", None),
]


def test_event_ts_is_valid_in_the_years_1900_to_2199_in_utc(spark: Any) -> None:
    rows: list[dict[str, str | None]] = [
        {"tracking_num": f"T{n}", "event_ts": text} for n, (text, _) in enumerate(EVENT_TS_EDGES)
    ]
    classified = classify_records(_records(spark, *rows))
    checked = sorted(classified.collect(), key=lambda row: int(row.tracking_num[1:]))
    assert [(row.event_ts, row[REJECT_REASON]) for row in checked] == [
        (text, None if valid else "invalid_event_ts") for text, valid in EVENT_TS_EDGES
    ]
    assert all("1900-2199" in row[REJECT_DETAIL] for row in checked if row[REJECT_REASON])
    stored = typed(classified.where(F.col(REJECT_REASON).isNull())).collect()  # never out of range
    assert sorted(row.event_ts.replace(tzinfo=UTC) for row in stored) == sorted(
        valid for _, valid in EVENT_TS_EDGES if valid
    )


def test_estimated_delivery_date_is_valid_in_the_years_1900_to_2199(spark: Any) -> None:
    rows: list[dict[str, str | None]] = [
        {"tracking_num": f"T{n}", "estimated_delivery_date": text} for n, (text, _) in enumerate(DATE_EDGES)
    ]
    classified = classify_records(_records(spark, *rows))
    checked = sorted(classified.collect(), key=lambda row: int(row.tracking_num[1:]))
    assert [(row.estimated_delivery_date, row[REJECT_REASON]) for row in checked] == [
        (text, None if valid else "invalid_estimated_delivery_date") for text, valid in DATE_EDGES
    ]
    stored = typed(classified.where(F.col(REJECT_REASON).isNull())).collect()
    assert sorted(row.estimated_delivery_date for row in stored) == [
        valid for _, valid in DATE_EDGES if valid
    ]


def _folds_into_ascii(char: str) -> bool:
    """A non-ASCII character whose Unicode upper or lower case is made of ASCII letters only."""
    return not char.isascii() and any(
        folded.isascii() and folded.isalpha() for folded in (char.upper(), char.lower())
    )


# Every such character of the Basic Multilingual Plane: the long s, the dotless i, the Kelvin sign,
# ligatures like U+FB01, and so on (found by Python's Unicode tables; Java's agree on these).
FOLDING = [chr(code) for code in range(0x80, 0x10000) if _folds_into_ascii(chr(code))]


def test_only_ascii_letters_change_case_so_no_key_or_status_becomes_another(spark: Any) -> None:
    assert len(FOLDING) >= 4  # the generator found the known cases
    rows: list[dict[str, str | None]] = [{"tracking_num": f"{char}1"} for char in FOLDING]
    rows += [{"status": "in_trans\u0131t"}, {"status": "deliv\u0131red"}, {"tracking_num": "\u017f1-ab"}]
    classified = classify_records(_records(spark, *rows)).collect()
    reasons = [r[REJECT_REASON] for r in classified]
    assert reasons == ["invalid_tracking_num"] * len(FOLDING) + ["invalid_status"] * 2 + [
        "invalid_tracking_num"
    ]
    assert classified[-1].tracking_num == "\u017f1-AB"  # a-z upper-cased, nothing else

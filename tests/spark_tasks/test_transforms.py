"""Pure transforms on real Spark: parsing contract text and keeping the latest row per key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from spark_tasks.contract import RAW_SCHEMA
from spark_tasks.transforms import latest_per_key, parse_contract_columns

pytestmark = pytest.mark.spark


def _raw(spark: Any, *rows: tuple[str | None, ...]) -> Any:
    return spark.createDataFrame(list(rows), RAW_SCHEMA)


def test_fields_are_trimmed_normalised_and_typed(spark: Any) -> None:
    raw = _raw(
        spark,
        (" 1zab-9 ", " O1 ", "UPS", "in transit", "2026-11-26T10:00:00+02:00", "  ", "2026-11-30"),
        ("T2", "O2", "DHL", "out-for-delivery", "2026-11-26 08:00:00.123456", "Oslo", "2026-02-30"),
    )
    rows = {r.tracking_num: r for r in parse_contract_columns(raw).collect()}
    first, second = rows["1ZAB-9"], rows["T2"]
    assert first.order_id == "O1"
    assert first.status == "IN_TRANSIT"
    assert first.location is None  # empty after trimming -> null
    assert first.event_ts.replace(tzinfo=UTC) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # offset -> UTC
    assert first.estimated_delivery_date == date(2026, 11, 30)
    assert second.status == "OUT_FOR_DELIVERY"
    assert second.event_ts.replace(tzinfo=UTC) == datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=UTC)
    assert second.estimated_delivery_date is None  # not a calendar date


def test_latest_event_wins_and_ties_go_to_the_later_ingested_row(spark: Any) -> None:
    t0 = datetime(2026, 11, 26, 8, 0)
    t1 = datetime(2026, 11, 26, 9, 0)
    rows = spark.createDataFrame(
        [
            ("A", t1, t0, 1, 1, "newest event"),
            ("A", t0, t1, 2, 1, "older event, later batch"),
            ("B", t0, t0, 1, 1, "tie, earlier object"),
            ("B", t0, t0, 2, 1, "tie, later object"),
            ("C", t0, t0, 1, 1, "tie, earlier record"),
            ("C", t0, t0, 1, 2, "tie, later record"),
        ],
        "tracking_num string, event_ts timestamp, ingested_at timestamp, "
        "object_seq int, record_index int, note string",
    )
    winners = {r.tracking_num: r.note for r in latest_per_key(rows).collect()}
    assert winners == {"A": "newest event", "B": "tie, later object", "C": "tie, later record"}

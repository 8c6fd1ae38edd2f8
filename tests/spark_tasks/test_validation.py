"""Record validation on real Spark: normalisation, typing, and every reject code in contract order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from spark_tasks.contract import CONTRACT_COLUMNS, CORRUPT_RECORD
from spark_tasks.validation import REJECT_REASON, classify_records, typed

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
    assert result.reject_detail

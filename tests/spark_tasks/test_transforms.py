"""Keeping the latest row per key, on real Spark."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from spark_tasks.transforms import latest_per_key

pytestmark = pytest.mark.spark


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

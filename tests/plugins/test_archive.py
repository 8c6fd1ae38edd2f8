"""Archive and quarantine moves planned from a stage result."""

from __future__ import annotations

from datetime import date

from order_tracking.archive import move_groups


def _result(*destinations: str) -> dict[str, object]:
    return {
        "batch_id": "b7",
        "objects": [{"name": f"staging_zn/{i}.csv", "destination": d} for i, d in enumerate(destinations)],
    }


def test_objects_are_grouped_by_destination_under_date_and_batch() -> None:
    groups = move_groups(
        _result("archive", "quarantine", "archive"), "archive/", "quarantine/", date(2026, 11, 26)
    )
    assert groups == [
        {
            "source_objects": ["staging_zn/0.csv", "staging_zn/2.csv"],
            "destination_object": "archive/2026-11-26/b7/",
        },
        {"source_objects": ["staging_zn/1.csv"], "destination_object": "quarantine/2026-11-26/b7/"},
    ]


def test_no_empty_source_list_ever_reaches_the_operator() -> None:
    groups = move_groups(_result("archive"), "archive/", "quarantine/", date(2026, 11, 26))
    assert [g["destination_object"] for g in groups] == ["archive/2026-11-26/b7/"]
    assert move_groups(_result(), "archive/", "quarantine/", date(2026, 11, 26)) == []

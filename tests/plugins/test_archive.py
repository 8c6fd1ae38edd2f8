"""Archive and quarantine moves planned from a batch's manifest and stage result."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from order_tracking.archive import move_groups, placements

DAY = date(2026, 11, 26)


def _stage_result(*destinations: str) -> dict[str, Any]:
    return {
        "objects": [{"name": f"staging_zn/{i}.csv", "destination": d} for i, d in enumerate(destinations)]
    }


def test_objects_are_grouped_by_destination_under_date_and_batch() -> None:
    moves = placements({"mode": "incremental"}, _stage_result("archive", "quarantine", "archive"))
    assert move_groups(moves, "b7", "archive/", "quarantine/", DAY) == [
        {
            "source_objects": ["staging_zn/0.csv", "staging_zn/2.csv"],
            "destination_object": "archive/2026-11-26/b7/",
        },
        {"source_objects": ["staging_zn/1.csv"], "destination_object": "quarantine/2026-11-26/b7/"},
    ]


def test_non_csv_objects_are_quarantined_without_a_stage_result() -> None:
    moves = placements({"mode": "incremental", "not_csv": ["staging_zn/x.tmp"]}, None)
    assert moves == [("staging_zn/x.tmp", "quarantine")]


def test_dry_runs_and_replays_move_nothing() -> None:
    result = _stage_result("archive", "quarantine")
    assert placements({"mode": "incremental", "dry_run": True, "not_csv": ["staging_zn/x.tmp"]}, result) == []
    assert placements({"mode": "replay"}, result) == []


def test_no_empty_source_list_ever_reaches_the_operator() -> None:
    moves = placements({"mode": "incremental"}, _stage_result("archive"))
    groups = move_groups(moves, "b7", "archive/", "quarantine/", DAY)
    assert [g["destination_object"] for g in groups] == ["archive/2026-11-26/b7/"]
    assert move_groups([], "b7", "archive/", "quarantine/", DAY) == []


@pytest.mark.usefixtures("gcs_connection")
def test_a_half_done_move_is_finished_by_the_retry(bucket: Any) -> None:
    """The first try moved one object and died; the retry moves the other and loses or doubles nothing."""
    from airflow.providers.google.cloud.transfers.gcs_to_gcs import GCSToGCSOperator

    for name in ("a.csv", "b.csv"):
        bucket.blob(f"staging_zn/{name}").upload_from_string(b"tracking_num\n")
    moves = [("staging_zn/a.csv", "archive"), ("staging_zn/b.csv", "archive")]
    (group,) = move_groups(moves, "b7", "archive/", "quarantine/", DAY)
    bucket.copy_blob(bucket.blob("staging_zn/a.csv"), bucket, "archive/2026-11-26/b7/a.csv")
    bucket.blob("staging_zn/a.csv").delete()  # ... and then the worker died

    GCSToGCSOperator(
        task_id="move_objects",
        source_bucket=bucket.name,
        destination_bucket=bucket.name,
        move_object=True,
        exact_match=True,
        **group,
    ).execute(context={})

    names = sorted(blob.name for blob in bucket.client.list_blobs(bucket.name))
    assert names == ["archive/2026-11-26/b7/a.csv", "archive/2026-11-26/b7/b.csv"]

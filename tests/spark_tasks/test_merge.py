"""Merge job on real Spark + Delta: latest event wins, no roll-back, reruns change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from spark_tasks import merge, stage_load

pytestmark = pytest.mark.spark

HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"


def _load(manifest_uri: str, root: Path) -> None:
    args = ["--manifest", manifest_uri, "--tables-root", str(root)]
    stage_load.main(args)
    merge.main(args)


def _target(spark: Any, root: Path) -> dict[str, tuple[str, str]]:
    rows = spark.read.format("delta").load(str(root / "target_zn_new")).collect()
    return {r.tracking_num: (r.status, r.batch_id) for r in rows}


def test_duplicate_keys_in_a_batch_keep_the_latest_event(spark: Any, put_batch: Any, tmp_path: Path) -> None:
    _load(
        put_batch(
            "b1",
            {
                "a.csv": HEADER
                + "T1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,,\n"
                + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"
                + "T1,O1,UPS,OUT_FOR_DELIVERY,2026-11-26T10:00:00Z,,\n"
            },
        ),
        tmp_path,
    )
    assert _target(spark, tmp_path) == {"T1": ("DELIVERED", "b1")}


def test_an_older_file_never_rolls_a_parcel_back(spark: Any, put_batch: Any, tmp_path: Path) -> None:
    _load(put_batch("new", {"n.csv": HEADER + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"}), tmp_path)
    _load(
        put_batch(
            "old",
            {
                "o.csv": HEADER
                + "T1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,,\n"
                + "T2,O2,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,,\n"
            },
        ),
        tmp_path,
    )
    assert _target(spark, tmp_path) == {"T1": ("DELIVERED", "new"), "T2": ("IN_TRANSIT", "old")}


def test_a_batch_of_only_stale_events_changes_nothing_and_counts_them(
    spark: Any, put_batch: Any, tmp_path: Path
) -> None:
    _load(put_batch("new", {"n.csv": HEADER + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"}), tmp_path)
    target = tmp_path / "target_zn_new"
    version = spark.sql(f"DESCRIBE HISTORY delta.`{target}` LIMIT 1").collect()[0]["version"]
    _load(put_batch("old", {"o.csv": HEADER + "T1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,,\n"}), tmp_path)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{target}` LIMIT 1").collect()[0]["version"] == version
    audit = spark.read.format("delta").load(str(tmp_path / "audit_zn_new")).where("batch_id = 'old'").first()
    assert (audit.inserted, audit.updated, audit.stale_skipped, audit.target_version) == (0, 0, 1, version)
    assert _target(spark, tmp_path) == {"T1": ("DELIVERED", "new")}


def test_an_exact_tie_goes_to_the_later_batch(spark: Any, put_batch: Any, tmp_path: Path) -> None:
    row = "T1,O1,UPS,{status},2026-11-26T12:00:00Z,,\n"
    for batch_id, status, hour in (("first", "IN_TRANSIT", 13), ("second", "EXCEPTION", 14)):
        files = {f"{batch_id}.csv": HEADER + row.format(status=status)}
        _load(put_batch(batch_id, files, datetime(2026, 11, 26, hour, tzinfo=UTC)), tmp_path)
    assert _target(spark, tmp_path) == {"T1": ("EXCEPTION", "second")}


def test_rerunning_a_merged_batch_changes_nothing(spark: Any, put_batch: Any, tmp_path: Path) -> None:
    uri = put_batch(
        "b1",
        {
            "a.csv": HEADER
            + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"
            + "T2,O2,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,,\n"
        },
    )
    _load(uri, tmp_path)
    before = sorted(spark.read.format("delta").load(str(tmp_path / "target_zn_new")).collect())
    merge.main(["--manifest", uri, "--tables-root", str(tmp_path)])
    after = sorted(spark.read.format("delta").load(str(tmp_path / "target_zn_new")).collect())
    assert after == before


def test_stale_rows_are_the_source_rows_neither_inserted_nor_updated() -> None:
    metrics = {"numSourceRows": "10", "numTargetRowsInserted": "4", "numTargetRowsUpdated": "3"}
    assert merge.stale_from_metrics(metrics, keys=10, batch_id="b1") == 3


def test_a_merge_that_read_another_number_of_source_rows_is_not_trusted() -> None:
    metrics = {"numSourceRows": "9", "numTargetRowsInserted": "4", "numTargetRowsUpdated": "3"}
    expected = "the MERGE read 9 source rows, but the batch has 10 keys"
    with pytest.raises(merge.ReconciliationError, match=expected):
        merge.stale_from_metrics(metrics, keys=10, batch_id="b1")

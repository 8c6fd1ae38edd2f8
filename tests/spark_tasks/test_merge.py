"""Merge job on real Spark + Delta: latest event wins, no roll-back, reruns change nothing."""

from __future__ import annotations

import json
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


CASES = Path(__file__).resolve().parent.parent / "data" / "feed_robustness"


def _case(*parts: str) -> dict[str, str | bytes]:
    folder = CASES.joinpath(*parts)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.suffix == ".csv"}


def _merge_result(bucket: Any, batch_id: str) -> dict[str, Any]:
    return json.loads(bucket.blob(f"_batches/{batch_id}/merge_result.json").download_as_bytes())


def _target_rows(spark: Any, root: Path) -> list[Any]:
    return sorted(spark.read.format("delta").load(str(root / "target_zn_new")).collect())


def test_a_replay_is_a_pure_repair_that_never_reverses_a_later_tie(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    # handed case replay_tie_rollback: day 2 resolved a tie (same instant, later status)
    day1, day2 = _case("replay_tie_rollback", "batch1"), _case("replay_tie_rollback", "batch2")
    _load(put_batch("day1", day1, datetime(2026, 11, 20, 9, tzinfo=UTC)), tmp_path)
    _load(put_batch("day2", day2, datetime(2026, 11, 21, 9, tzinfo=UTC)), tmp_path)
    settled = _target_rows(spark, tmp_path)
    assert _target(spark, tmp_path) == {"K1": ("DELIVERED", "day2")}
    for replay in ("replay1", "replay2"):
        _load(put_batch(replay, day1, datetime(2026, 11, 22, 9, tzinfo=UTC), mode="replay"), tmp_path)
        result = _merge_result(bucket, replay)
        assert (result["inserted"], result["updated"], result["stale_skipped"]) == (0, 0, 1)
        assert _target_rows(spark, tmp_path) == settled  # lineage columns included


def test_a_replay_repairs_a_lost_row_with_its_original_lineage(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    files = {"a.csv": HEADER + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"}
    _load(put_batch("orig", files, datetime(2026, 11, 26, 13, tzinfo=UTC)), tmp_path)
    original = _target_rows(spark, tmp_path)[0]
    spark.sql(f"DELETE FROM delta.`{tmp_path / 'target_zn_new'}` WHERE tracking_num = 'T1'")
    _load(put_batch("repair", files, datetime(2026, 11, 27, 9, tzinfo=UTC), mode="replay"), tmp_path)
    assert _merge_result(bucket, "repair")["inserted"] == 1
    (repaired,) = _target_rows(spark, tmp_path)
    assert (repaired.source_object, repaired.ingested_at) == (original.source_object, original.ingested_at)
    assert repaired.asDict() | {"batch_id": "orig"} == original.asDict()
    _load(put_batch("repair2", files, datetime(2026, 11, 28, 9, tzinfo=UTC), mode="replay"), tmp_path)
    assert _merge_result(bucket, "repair2")["updated"] == 0
    assert _target_rows(spark, tmp_path) == [repaired]


def test_a_batch_whose_counts_do_not_add_up_is_never_merged(
    spark: Any, put_batch: Any, tmp_path: Path
) -> None:
    uri = put_batch("b1", {"a.csv": HEADER + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"})
    stage_load.main(["--manifest", uri, "--tables-root", str(tmp_path)])
    spark.sql(f"UPDATE delta.`{tmp_path / 'ledger_zn_new'}` SET rows_loaded = 0 WHERE batch_id = 'b1'")
    with pytest.raises(merge.ReconciliationError, match="nothing was merged"):
        merge.main(["--manifest", uri, "--tables-root", str(tmp_path)])
    assert spark.read.format("delta").load(str(tmp_path / "target_zn_new")).count() == 0


@pytest.mark.parametrize("column", ["source_object", "object_seq", "record_index", "ingested_at"])
def test_a_batch_with_a_staged_row_lacking_lineage_is_never_merged(
    spark: Any, put_batch: Any, tmp_path: Path, column: str
) -> None:
    uri = put_batch("b1", {"a.csv": HEADER + "T1,O1,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"})
    stage_load.main(["--manifest", uri, "--tables-root", str(tmp_path)])
    spark.sql(f"UPDATE delta.`{tmp_path / 'stage_zn_new'}` SET {column} = NULL WHERE batch_id = 'b1'")
    with pytest.raises(merge.ReconciliationError, match="1 staged rows lack their object or record lineage"):
        merge.main(["--manifest", uri, "--tables-root", str(tmp_path)])
    assert spark.read.format("delta").load(str(tmp_path / "target_zn_new")).count() == 0


def test_producer_columns_named_like_ours_never_break_later_merges(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    # handed cases extra_col_path_breaks_merge (run1..run3) and extra_col_source_object, plus every
    # lineage and Delta name as a producer column, then an evolving schema (a new column, then none)
    runs = [_case("extra_col_path_breaks_merge", f"run{n}") for n in (1, 2, 3)]
    _load(put_batch("run1", runs[0]), tmp_path)
    reserved = ["path", "filepath", "batch_id", "source_object", "object_seq", "record_index", "ingested_at"]
    clash = {
        f"{name}.csv": HEADER.strip() + f",{name}\nR-{i},O1,UPS,DELIVERED,2026-11-27T00:00:00Z,,,v\n"
        for i, name in enumerate(reserved)
    }
    _load(put_batch("run2", runs[1] | clash | _case("extra_col_source_object")), tmp_path)
    outcomes = {o["name"].rsplit("/", 1)[-1]: o["reason"] for o in _stage_objects(bucket, "run2")}
    clashing = [*clash, "p2.csv", "extra_source_object.csv"]
    assert outcomes == dict.fromkeys(clashing, "reserved_column_name") | {"good.csv": None}
    _load(put_batch("run3", runs[2]), tmp_path)
    dock = HEADER.strip() + ",dock\nK3,O1,UPS,IN_TRANSIT,2026-11-27T01:00:00Z,,,D4\n"
    _load(put_batch("run4", {"dock.csv": dock}), tmp_path)
    _load(put_batch("run5", {"plain.csv": HEADER + "K3,O1,UPS,DELIVERED,2026-11-27T02:00:00Z,,\n"}), tmp_path)
    target = {r.tracking_num: r for r in _target_rows(spark, tmp_path)}
    assert {k: r.status for k, r in target.items()} == {
        "K1": "IN_TRANSIT",  # p2.csv was quarantined: its update never applied
        "K2": "DELIVERED",
        "G1": "IN_TRANSIT",
        "K3": "DELIVERED",
    }
    assert "path" not in target["K1"].asDict()
    assert target["K3"].dock is None  # the row's latest event came from an object without the column


def _stage_objects(bucket: Any, batch_id: str) -> list[dict[str, Any]]:
    return json.loads(bucket.blob(f"_batches/{batch_id}/stage_result.json").download_as_bytes())["objects"]

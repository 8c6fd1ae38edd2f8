"""Stage-load job on real Spark + Delta, reading objects from the GCS emulator by gs:// URI.

Covers the feed contract end to end at the job level: every quarantine reason, rejects with their
codes and record indexes, duplicates, schema policies and the stage result the DAG reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spark_tasks import stage_load

pytestmark = pytest.mark.spark

HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"
ROW = "T1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,Oslo,2026-11-28\n"


def _stage(uri: str, root: Path, *extra: str) -> None:
    stage_load.main(["--manifest", uri, "--tables-root", str(root), *extra])


def _table(spark: Any, root: Path, name: str) -> list[Any]:
    return spark.read.format("delta").load(str(root / name)).collect()


def _result(bucket: Any, batch_id: str) -> dict[str, Any]:
    return json.loads(bucket.blob(f"_batches/{batch_id}/stage_result.json").download_as_bytes())


def _outcomes(bucket: Any, batch_id: str) -> dict[str, tuple[str, str | None]]:
    return {
        o["name"].rsplit("/", 1)[-1]: (o["outcome"], o["reason"])
        for o in _result(bucket, batch_id)["objects"]
    }


def test_rows_get_lineage_and_the_result_names_each_object(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    uri = put_batch(
        "b1",
        {
            "a.csv": HEADER + ROW + "T2,O2,UPS,DELIVERED,2026-11-26T09:00:00Z,Rome,\n",
            "b.csv": HEADER + ROW.replace("IN_TRANSIT", "DELIVERED"),
        },
    )
    _stage(uri, tmp_path)
    rows = _table(spark, tmp_path, "stage_zn_new")
    assert sorted((r.source_object, r.object_seq, r.record_index, r.tracking_num) for r in rows) == [
        ("staging_zn/a.csv", 1, 1, "T1"),
        ("staging_zn/a.csv", 1, 2, "T2"),
        ("staging_zn/b.csv", 2, 1, "T1"),
    ]
    result = _result(bucket, "b1")
    assert (result["records_read"], result["rows_staged"], result["rows_rejected"]) == (3, 3, 0)
    assert [(o["name"], o["outcome"], o["destination"]) for o in result["objects"]] == [
        ("staging_zn/a.csv", "loaded", "archive"),
        ("staging_zn/b.csv", "loaded", "archive"),
    ]


def test_bom_crlf_quoted_newlines_shuffled_mixed_case_headers_and_offsets(
    spark: Any, put_batch: Any, tmp_path: Path
) -> None:
    text = (
        "\ufeff Event_TS ,STATUS,Tracking_Num,carrier,Order_ID,Location\r\n"
        '2026-11-26 10:00:00.5+02:00,out for delivery,t-1,"UPS, Inc.","O""1","Line 1\r\nLine 2"\r\n'
        "\r\n"
        "2026-11-26T07:00:00-05:00, picked-up ,T-2,DHL,O2,\r\n"
    )
    _stage(put_batch("b1", {"odd.csv": text}), tmp_path)
    rows = {r.tracking_num: r for r in _table(spark, tmp_path, "stage_zn_new")}
    assert set(rows) == {"T-1", "T-2"}
    first, second = rows["T-1"], rows["T-2"]
    assert (first.status, first.carrier, first.order_id) == ("OUT_FOR_DELIVERY", "UPS, Inc.", 'O"1')
    assert first.location.splitlines() == ["Line 1", "Line 2"]
    assert str(first.event_ts) == "2026-11-26 08:00:00.500000"  # UTC
    assert (second.status, second.location, second.record_index) == (
        "PICKED_UP",
        None,
        2,
    )  # blank line skipped
    assert str(second.event_ts) == "2026-11-26 12:00:00"
    assert second.estimated_delivery_date is None  # optional column absent from this object


def test_bad_records_are_rejected_with_reason_index_and_raw_record(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    text = (
        HEADER
        + ROW
        + "\nT2,O2,UPS\n"
        + "T3,O3,UPS,LOST,2026-11-26T08:00:00Z,,\n"
        + "T4,,UPS,DELIVERED,2026-11-26,,\n"
    )
    _stage(put_batch("b1", {"mixed.csv": text}), tmp_path)
    rejects = sorted(
        (r.record_index, r.reason, r.source_object) for r in _table(spark, tmp_path, "rejects_zn_new")
    )
    assert rejects == [
        (2, "malformed_row", "staging_zn/mixed.csv"),
        (3, "invalid_status", "staging_zn/mixed.csv"),
        (4, "missing_required:order_id", "staging_zn/mixed.csv"),
    ]
    raw = {r.record_index: r.raw_record for r in _table(spark, tmp_path, "rejects_zn_new")}
    assert raw[2] == "T2,O2,UPS"
    assert "LOST" in raw[3]
    assert [r.tracking_num for r in _table(spark, tmp_path, "stage_zn_new")] == ["T1"]
    (obj,) = _result(bucket, "b1")["objects"]
    assert (obj["records_read"], obj["rows_loaded"], obj["rows_rejected"]) == (4, 1, 3)


def test_every_quarantine_reason(spark: Any, put_batch: Any, bucket: Any, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "empty.csv": b"",
        "latin1_header.csv": "tracking_num,order_id,carrier,status,event_ts,lieu\xe9\n".encode("latin-1"),
        "latin1_body.csv": (HEADER + "T9,O9,UPS,DELIVERED,2026-11-26T08:00:00Z,Z\xfcrich,\n").encode(
            "latin-1"
        ),
        "no_status.csv": "tracking_num,order_id,carrier,event_ts\nT1,O1,UPS,2026-11-26T08:00:00Z\n",
        "twice.csv": "tracking_num,order_id,carrier,status,event_ts,Carrier\n"
        "T1,O1,UPS,DELIVERED,2026-11-26,UPS\n",
        "header_only.csv": HEADER,
        "good.csv": HEADER + ROW,
    }
    _stage(put_batch("b1", files), tmp_path)
    assert _outcomes(bucket, "b1") == {
        "empty.csv": ("quarantined", "empty_object"),
        "latin1_header.csv": ("quarantined", "not_utf8"),
        "latin1_body.csv": ("quarantined", "not_utf8"),
        "no_status.csv": ("quarantined", "missing_required_columns"),
        "twice.csv": ("quarantined", "duplicate_columns"),
        "header_only.csv": ("loaded", None),
        "good.csv": ("loaded", None),
    }
    destinations = {o["name"]: o["destination"] for o in _result(bucket, "b1")["objects"]}
    assert sum(d == "quarantine" for d in destinations.values()) == 5
    assert [r.source_object for r in _table(spark, tmp_path, "stage_zn_new")] == ["staging_zn/good.csv"]
    assert _table(spark, tmp_path, "rejects_zn_new") == []  # quarantined objects leave no partial rows
    ledger = {r.object_name: r for r in _table(spark, tmp_path, "ledger_zn_new")}
    assert ledger["staging_zn/twice.csv"].detail == "duplicate column names: 'carrier'"
    assert ledger["staging_zn/good.csv"].md5_hash


def test_redelivered_bytes_are_duplicates_in_the_batch_and_across_batches(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    _stage(put_batch("b1", {"first.csv": HEADER + ROW, "copy.csv": HEADER + ROW}), tmp_path)
    _stage(put_batch("b2", {"again.csv": HEADER + ROW}), tmp_path)
    assert _outcomes(bucket, "b1") == {"first.csv": ("loaded", None), "copy.csv": ("duplicate", "duplicate")}
    assert _outcomes(bucket, "b2") == {"again.csv": ("duplicate", "duplicate")}
    assert {o["destination"] for o in _result(bucket, "b2")["objects"]} == {"archive"}
    assert [r.source_object for r in _table(spark, tmp_path, "stage_zn_new")] == ["staging_zn/first.csv"]


def test_restaging_a_batch_replaces_it_and_is_not_its_own_duplicate(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    uri = put_batch("b1", {"a.csv": HEADER + ROW + "T2,O2,UPS,LOST,2026-11-26T08:00:00Z,,\n"})
    _stage(uri, tmp_path)
    _stage(uri, tmp_path)
    assert len(_table(spark, tmp_path, "stage_zn_new")) == 1
    assert len(_table(spark, tmp_path, "rejects_zn_new")) == 1
    assert len(_table(spark, tmp_path, "ledger_zn_new")) == 1
    assert _outcomes(bucket, "b1") == {"a.csv": ("loaded", None)}


@pytest.mark.parametrize("policy", ["add", "rescue", "fail"])
def test_schema_policies_for_unknown_columns(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path, policy: str
) -> None:
    files = {
        "wide.csv": HEADER.strip() + ",Gate\n" + ROW.strip() + ",G7\n",
        "plain.csv": HEADER + ROW.replace("T1", "T2"),
    }
    _stage(put_batch("b1", files), tmp_path, "--schema-policy", policy)
    outcomes = _outcomes(bucket, "b1")
    rows = {r.tracking_num: r.asDict() for r in _table(spark, tmp_path, "stage_zn_new")}
    if policy == "fail":
        assert outcomes["wide.csv"] == ("quarantined", "unknown_columns")
        assert set(rows) == {"T2"}
    elif policy == "add":
        assert (rows["T1"]["gate"], rows["T2"]["gate"]) == ("G7", None)
    else:
        assert json.loads(rows["T1"]["_rescued_data"]) == {"gate": "G7"}
        assert rows["T2"]["_rescued_data"] is None
        assert "gate" not in rows["T1"]


def test_a_dry_run_counts_everything_and_writes_no_table(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    bad = ROW.replace("IN_TRANSIT", "LOST")
    uri = put_batch("dry", {"a.csv": HEADER + ROW + bad + bad, "b.csv": "no header here\n"}, dry_run=True)
    _stage(uri, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no table created, none written
    result = _result(bucket, "dry")
    assert result["dry_run"] is True
    assert (result["records_read"], result["rows_staged"], result["rows_rejected"]) == (3, 1, 2)
    assert result["reject_reasons"] == {"invalid_status": 2}
    assert _outcomes(bucket, "dry") == {
        "a.csv": ("loaded", None),
        "b.csv": ("quarantined", "missing_required_columns"),
    }


def test_a_replay_loads_objects_the_ledger_already_knows(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    files = {"a.csv": HEADER + ROW}
    _stage(put_batch("first", files), tmp_path)
    _stage(put_batch("again", files), tmp_path)
    assert _outcomes(bucket, "again") == {"a.csv": ("duplicate", "duplicate")}  # a re-delivery
    _stage(put_batch("replay", files, mode="replay"), tmp_path)
    assert _outcomes(bucket, "replay") == {"a.csv": ("loaded", None)}  # a replay loads it again
    staged = [r.batch_id for r in _table(spark, tmp_path, "stage_zn_new")]
    assert sorted(staged) == ["first", "replay"]


def test_an_object_that_fails_the_read_is_quarantined_unreadable_and_the_rest_loads(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    too_wide = HEADER + ",".join(["x"] * 25_000) + "\n"  # past Spark's CSV limit of 20,480 columns
    _stage(put_batch("b1", {"wide.csv": too_wide, "good.csv": HEADER + ROW}), tmp_path)
    assert _outcomes(bucket, "b1") == {
        "wide.csv": ("quarantined", "unreadable"),
        "good.csv": ("loaded", None),
    }
    wide = next(o for o in _result(bucket, "b1")["objects"] if o["name"].endswith("wide.csv"))
    assert wide["destination"] == "quarantine"
    assert "FAILED_READ_FILE" in wide["detail"]  # the error as Spark gave it, first line
    assert [r.source_object for r in _table(spark, tmp_path, "stage_zn_new")] == ["staging_zn/good.csv"]
    ledger = {r.object_name: r for r in _table(spark, tmp_path, "ledger_zn_new")}
    assert (ledger["staging_zn/wide.csv"].outcome, ledger["staging_zn/wide.csv"].reason) == (
        "quarantined",
        "unreadable",
    )


def test_ledger_rows_record_each_objects_place_in_its_batch(
    spark: Any, put_batch: Any, tmp_path: Path
) -> None:
    _stage(put_batch("b1", {"a.csv": HEADER + ROW, "b.csv": HEADER, "c.csv": b""}), tmp_path)
    ledger = {r.object_name: r.object_seq for r in _table(spark, tmp_path, "ledger_zn_new")}
    assert ledger == {"staging_zn/a.csv": 1, "staging_zn/b.csv": 2, "staging_zn/c.csv": 3}


def test_added_producer_columns_are_trimmed_like_every_field(
    spark: Any, put_batch: Any, tmp_path: Path
) -> None:
    text = HEADER.strip() + ",dock\r\n" + ROW.strip() + ",\u00a0D4\t\r\n" + ROW.strip() + ", \r\n"
    _stage(put_batch("b1", {"dock.csv": text}), tmp_path)
    docks = sorted((r.record_index, r.dock) for r in _table(spark, tmp_path, "stage_zn_new"))
    assert docks == [(1, "D4"), (2, None)]


def test_a_rejects_raw_record_keeps_the_fields_as_read(spark: Any, put_batch: Any, tmp_path: Path) -> None:
    text = HEADER + " T3 ,O3,UPS,LOST,2026-11-26T08:00:00Z,  spaced  ,\n"
    _stage(put_batch("b1", {"a.csv": text}), tmp_path)
    (reject,) = _table(spark, tmp_path, "rejects_zn_new")
    assert reject.reason == "invalid_status"
    assert reject.raw_record.startswith(" T3 ,O3,UPS,LOST,")
    assert "  spaced  " in reject.raw_record


def test_a_replay_checks_no_redelivery_even_inside_its_batch(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    _stage(put_batch("first", {"a.csv": HEADER + ROW}), tmp_path)
    _stage(put_batch("replay", {"c.csv": HEADER + ROW, "a.csv": HEADER + ROW}, mode="replay"), tmp_path)
    assert _outcomes(bucket, "replay") == {"c.csv": ("loaded", None), "a.csv": ("loaded", None)}
    replayed = [r for r in _table(spark, tmp_path, "stage_zn_new") if r.batch_id == "replay"]
    assert {r.source_object for r in replayed} == {"staging_zn/a.csv"}  # both are the first load's bytes

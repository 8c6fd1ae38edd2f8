"""Cutting a batch: candidates, order, cap, batch ids and the manifest document."""

from __future__ import annotations

from datetime import UTC, datetime

from order_tracking.batch import (
    StagedObject,
    batch_id_for_run,
    build_manifest,
    is_batch_candidate,
    select_batch,
)


def _obj(name: str, minute: int) -> StagedObject:
    return StagedObject(name, "1", 10, "md5", "crc", datetime(2026, 11, 26, 12, minute, tzinfo=UTC))


def test_only_csv_objects_directly_under_the_prefix_are_candidates() -> None:
    assert is_batch_candidate("staging_zn/a.csv", "staging_zn/")
    assert is_batch_candidate("staging_zn/A.CSV", "staging_zn/")
    assert not is_batch_candidate("staging_zn/", "staging_zn/")  # console "folder" placeholder
    assert not is_batch_candidate("staging_zn/a.csv.tmp", "staging_zn/")
    assert not is_batch_candidate("staging_zn/sub/a.csv", "staging_zn/")
    assert not is_batch_candidate("archive/a.csv", "staging_zn/")


def test_batch_is_oldest_first_and_capped() -> None:
    objects = [
        _obj("staging_zn/c.csv", 3),
        _obj("staging_zn/a.csv", 5),
        _obj("staging_zn/b.csv", 1),
        _obj("staging_zn/x.tmp", 0),
    ]
    assert [o.name for o in select_batch(objects, "staging_zn/", 2)] == [
        "staging_zn/b.csv",
        "staging_zn/c.csv",
    ]


def test_batch_id_is_path_safe_and_stable() -> None:
    run_id = "manual__2026-11-26T15:09:03.332836+00:00"
    assert batch_id_for_run(run_id) == batch_id_for_run(run_id) == "manual__2026-11-26T15_09_03.332836_00_00"


def test_manifest_names_objects_and_result_locations() -> None:
    created = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    manifest = build_manifest("b1", "bkt", "_batches/", [_obj("staging_zn/a.csv", 1)], created)
    assert manifest["objects"][0]["name"] == "staging_zn/a.csv"
    assert manifest["results"] == {
        "stage": "gs://bkt/_batches/b1/stage_result.json",
        "merge": "gs://bkt/_batches/b1/merge_result.json",
    }
    assert manifest["created_at"] == created.isoformat()

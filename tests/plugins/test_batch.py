"""Cutting a batch: candidates, order, cap, batch ids and the manifest document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from order_tracking.batch import (
    StagedObject,
    archive_day_prefixes,
    batch_id_for_run,
    build_manifest,
    is_batch_candidate,
    is_stray_object,
    select_batch,
)


def _obj(name: str, minute: int) -> StagedObject:
    return StagedObject(name, "1", 10, "md5", "crc", datetime(2026, 11, 26, 12, minute, tzinfo=UTC))


def test_stray_objects_are_the_non_csv_objects_directly_under_the_prefix() -> None:
    assert is_stray_object("staging_zn/upload.csv.tmp", "staging_zn/")
    assert is_stray_object("staging_zn/notes.json", "staging_zn/")
    assert not is_stray_object("staging_zn/", "staging_zn/")  # placeholder: ignored
    assert not is_stray_object("staging_zn/sub/x.tmp", "staging_zn/")  # sub-folder: ignored
    assert not is_stray_object("staging_zn/a.csv", "staging_zn/")


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
    csv_objects, not_csv = select_batch(objects, "staging_zn/", 3)
    assert [o.name for o in csv_objects] == ["staging_zn/b.csv", "staging_zn/c.csv"]
    assert [o.name for o in not_csv] == ["staging_zn/x.tmp"]  # oldest, so within the cap of 3
    csv_objects, not_csv = select_batch(objects, "staging_zn/", 1)
    assert ([o.name for o in csv_objects], [o.name for o in not_csv]) == ([], ["staging_zn/x.tmp"])


def test_a_replay_loads_the_archive_days_whose_midnight_is_in_its_interval() -> None:
    day = datetime(2026, 11, 26, tzinfo=UTC)
    assert archive_day_prefixes("archive/", day, day + timedelta(days=1)) == ["archive/2026-11-26/"]
    assert archive_day_prefixes("archive/", day, day + timedelta(days=2)) == [
        "archive/2026-11-26/",
        "archive/2026-11-27/",
    ]
    assert archive_day_prefixes("archive/", day, day + timedelta(hours=1)) == ["archive/2026-11-26/"]
    assert archive_day_prefixes("archive/", day + timedelta(hours=1), day + timedelta(hours=2)) == []


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
    assert (manifest["mode"], manifest["dry_run"], manifest["not_csv"]) == ("incremental", False, [])

"""Cutting a batch: candidates, order, cap, batch ids and the manifest document."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from batch_documents import MANIFEST_VERSION, RunMode
from order_tracking.batch import (
    StagedObject,
    archive_day_prefixes,
    batch_id_for_run,
    build_manifest,
    direct_children_glob,
    is_batch_candidate,
    is_stray_object,
    select_batch,
    snapshot_name,
)
from tests.object_names import awkward_leaves


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
        _obj("staging_zn/", 0),
        _obj("staging_zn/sub/old.csv", 0),
    ]
    csv_objects, not_csv = select_batch(objects, "staging_zn/", 3)
    assert [o.name for o in csv_objects] == ["staging_zn/b.csv", "staging_zn/c.csv", "staging_zn/a.csv"]
    assert [o.name for o in not_csv] == ["staging_zn/x.tmp"]
    csv_objects, not_csv = select_batch(objects, "staging_zn/", 2)
    assert [o.name for o in csv_objects] == ["staging_zn/b.csv", "staging_zn/c.csv"]


def test_non_csv_objects_never_use_up_the_cap_of_csv_objects() -> None:
    strays = [_obj(f"staging_zn/upload_{i}.tmp", 0) for i in range(5)]
    objects = [*strays, _obj("staging_zn/b.csv", 9), _obj("staging_zn/a.csv", 8)]
    csv_objects, not_csv = select_batch(objects, "staging_zn/", 2)
    assert [o.name for o in csv_objects] == ["staging_zn/a.csv", "staging_zn/b.csv"]
    assert [o.name for o in not_csv] == ["staging_zn/upload_0.tmp", "staging_zn/upload_1.tmp"]  # own cap


def test_snapshot_names_are_deterministic_safe_and_distinct() -> None:
    names = [f"staging_zn/{leaf}" for leaf in awkward_leaves()]
    snapshots = [snapshot_name("_batches/", "manual__b1", name, "1764165000123456") for name in names]
    assert snapshots == [snapshot_name("_batches/", "manual__b1", n, "1764165000123456") for n in names]
    assert len(set(snapshots)) == len(names)
    for snapshot in snapshots:
        assert re.fullmatch(r"_batches/manual__b1/objects/[0-9a-f]{16}-1764165000123456\.csv", snapshot)
    assert snapshot_name("_batches/", "b1", names[0], "2") != snapshot_name("_batches/", "b1", names[0], "3")
    with pytest.raises(ValueError, match="generation"):
        snapshot_name("_batches/", "b1", names[0], "../x")


def test_the_sensor_glob_matches_only_objects_directly_under_the_prefix() -> None:
    assert direct_children_glob("staging_zn/") == "staging_zn/?*"
    with pytest.raises(ValueError, match="glob"):
        direct_children_glob("staging[1]/")
    with pytest.raises(ValueError, match="ending in"):
        direct_children_glob("staging_zn")


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
    built = build_manifest("b1", "bkt", "_batches/", [_obj("staging_zn/a.csv", 1)], created)
    assert (built.version, built.mode) == (MANIFEST_VERSION, RunMode.INCREMENTAL)
    manifest = built.to_dict()  # the document the jobs read
    assert manifest["version"] == MANIFEST_VERSION == 2
    assert manifest["objects"][0]["name"] == "staging_zn/a.csv"
    assert manifest["results"] == {
        "stage": "gs://bkt/_batches/b1/stage_result.json",
        "merge": "gs://bkt/_batches/b1/merge_result.json",
    }
    assert manifest["created_at"] == created.isoformat()
    assert (manifest["mode"], manifest["dry_run"], manifest["not_csv"]) == ("incremental", False, [])


def test_manifest_entries_carry_identity_and_batch_copy() -> None:
    created = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    obj = StagedObject("staging_zn/a*.csv", "7", 10, "md5", "crc", created, "_batches/b1/objects/x-7.csv")
    tmp = StagedObject("staging_zn/x.tmp", "8", 3, "md5t", "crct", created, "_batches/b1/objects/y-8.csv")
    manifest = build_manifest("b1", "bkt", "_batches/", [obj], created, not_csv=[tmp]).to_dict()
    assert manifest["objects"] == [
        {
            "name": "staging_zn/a*.csv",
            "generation": "7",
            "size": 10,
            "md5_hash": "md5",
            "crc32c": "crc",
            "created": created.isoformat(),
            "snapshot": "_batches/b1/objects/x-7.csv",
        }
    ]
    assert [(e["name"], e["generation"], e["snapshot"]) for e in manifest["not_csv"]] == [
        ("staging_zn/x.tmp", "8", "_batches/b1/objects/y-8.csv")
    ]

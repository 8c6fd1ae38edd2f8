"""The manifest: what the DAG writes is what the jobs read, in this release and from earlier ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from batch_documents import (
    ACCEPTED_MANIFEST_VERSIONS,
    MANIFEST_VERSION,
    BadFieldError,
    DocumentError,
    Manifest,
    ManifestObject,
    MissingFieldError,
    NotJsonError,
    RunMode,
    UnsupportedVersionError,
)
from order_tracking.batch import StagedObject, build_manifest, snapshot_name
from spark_tasks import manifest as spark_manifest
from tests.batch_documents.generated import manifests

EARLIER = Path(__file__).parent / "previous_release"
CREATED = datetime(2026, 11, 26, 13, 0, 5, 123456, tzinfo=UTC)


def _earlier(name: str) -> str:
    return (EARLIER / name).read_text()


@given(manifests())
def test_every_manifest_round_trips(manifest: Manifest) -> None:
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest


def test_a_version_2_manifest_of_the_previous_release_reads_and_writes_back_unchanged() -> None:
    text = _earlier("manifest_v2.json")
    manifest = Manifest.from_json(text)
    assert (manifest.version, manifest.mode, manifest.dry_run) == (2, RunMode.OBJECTS, True)
    assert manifest.batch_id == "manual__b1"
    assert manifest.created_at == CREATED
    first, second = manifest.objects
    assert (first.seq, first.name, first.generation, first.size) == (
        1,
        "staging_zn/orders [1] (copy)?.csv",
        "1764165541250000",
        5,
    )
    assert first.uri == f"gs://tracking_orders/{first.snapshot}"  # the batch copy, never the name
    assert (second.seq, second.md5_hash, second.crc32c, second.created) == (2, None, "c3==", None)
    (stray,) = manifest.not_csv
    assert (stray.name, stray.snapshot) == (
        "staging_zn/upload.csv.tmp",
        "_batches/manual__b1/objects/0f1e2d3c4b5a6978-1764165541260000.csv",
    )
    assert manifest.stage_result_uri == "gs://tracking_orders/_batches/manual__b1/stage_result.json"
    assert not manifest.moves_objects  # a dry run
    assert manifest.to_json() + "\n" == text  # this release writes the very same document


def test_a_version_1_manifest_reads_its_objects_by_name_and_not_csv_names() -> None:
    text = _earlier("manifest_v1.json")
    manifest = Manifest.from_json(text)
    assert (manifest.version, manifest.mode, manifest.dry_run) == (1, RunMode.INCREMENTAL, False)
    (obj,) = manifest.objects
    assert (obj.name, obj.snapshot, obj.uri) == (
        "staging_zn/a.csv",
        None,
        "gs://tracking_orders/staging_zn/a.csv",
    )
    (stray,) = manifest.not_csv
    assert (stray.name, stray.generation, stray.snapshot) == ("staging_zn/x.tmp", None, None)
    assert manifest.to_json() + "\n" == text  # written back as version 1


def test_the_first_version_1_manifests_are_incremental_loading_runs() -> None:
    manifest = Manifest.from_json(_earlier("manifest_v1_first.json"))
    assert (manifest.mode, manifest.dry_run, manifest.not_csv) == (RunMode.INCREMENTAL, False, ())
    assert manifest.moves_objects
    assert manifest.object_uris == ["gs://tracking_orders/staging_zn/a.csv"]
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_the_jobs_read_each_object_from_its_batch_copy() -> None:
    created = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    name = "staging_zn/orders [1] (copy)?.csv"
    snapshot = snapshot_name("_batches/", "b1", name, "17")
    objects = [StagedObject(name, "17", 5, "m1", "c1", created, snapshot)]
    manifest = build_manifest("b1", "bkt", "_batches/", objects, created)
    (parsed,) = Manifest.from_json(manifest.to_json()).objects
    assert (parsed.name, parsed.generation) == (name, "17")  # what the ledger and lineage record
    assert parsed.uri == f"gs://bkt/{snapshot}"  # where the bytes are read


def test_round_trip_from_the_dag_side() -> None:
    created = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    objects = [
        StagedObject("staging_zn/a.csv", "11", 5, "m1", "c1", created),
        StagedObject("staging_zn/b.csv", "12", 6, None, None, None),
    ]
    built = build_manifest("b1", "bkt", "_batches/", objects, created)
    parsed = Manifest.from_json(built.to_json())
    assert parsed == built
    assert parsed.batch_id == "b1"
    assert parsed.created_at == created
    assert parsed.object_uris == ["gs://bkt/staging_zn/a.csv", "gs://bkt/staging_zn/b.csv"]
    assert [o.seq for o in parsed.objects] == [1, 2]
    assert parsed.stage_result_uri == "gs://bkt/_batches/b1/stage_result.json"


def test_the_old_jobs_module_re_exports_the_shared_types() -> None:
    """``spark_tasks.manifest`` stays for the benchmark harness's imports."""
    assert spark_manifest.BatchManifest is Manifest
    assert spark_manifest.ManifestObject is ManifestObject


def test_the_version_written_is_one_that_is_read() -> None:
    assert MANIFEST_VERSION == max(ACCEPTED_MANIFEST_VERSIONS) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"version": 3}', "version 3 is not supported"),
        ('{"version": 1, "bucket": "b", "objects": []}', "lacks the field 'batch_id'"),
    ],
)
def test_bad_manifests_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        Manifest.from_json(text)


def _v2(**changes: Any) -> dict[str, Any]:
    doc = dict(json.loads(_earlier("manifest_v2.json")))
    doc.update(changes)
    return doc


@pytest.mark.parametrize("version", [None, 0, 3, "2", True, 2.0, 2.5])
def test_an_unknown_version_is_refused(version: Any) -> None:
    doc = _v2(version=version)
    with pytest.raises(UnsupportedVersionError, match=r"manifest version .* is not supported") as refused:
        Manifest.from_dict(doc)
    assert refused.value.accepted == ACCEPTED_MANIFEST_VERSIONS


@pytest.mark.parametrize("field", ["batch_id", "bucket", "created_at", "objects", "results"])
def test_a_missing_field_is_named(field: str) -> None:
    doc = _v2()
    del doc[field]
    with pytest.raises(MissingFieldError, match=f"manifest lacks the field '{field}'") as missing:
        Manifest.from_dict(doc)
    assert missing.value.field == field


def test_a_missing_field_inside_a_list_or_an_object_is_named_by_its_path() -> None:
    doc = _v2()
    del doc["objects"][1]["name"]
    with pytest.raises(MissingFieldError, match=r"lacks the field 'objects\[1\]\.name'"):
        Manifest.from_dict(doc)
    doc = _v2(results={"stage": "gs://b/s.json"})
    with pytest.raises(MissingFieldError, match=r"lacks the field 'results\.merge'"):
        Manifest.from_dict(doc)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": "everything"}, "mode"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"objects": {"name": "a.csv"}}, "objects"),
        ({"objects": [{"name": "a.csv", "size": "5"}]}, "objects[0].size"),
        ({"objects": ["a.csv"]}, "objects[0]"),
        ({"not_csv": ["x.tmp"]}, "not_csv[0]"),  # names alone are version 1's
        ({"batch_id": 7}, "batch_id"),
    ],
)
def test_a_field_of_the_wrong_kind_is_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(BadFieldError) as bad:
        Manifest.from_dict(_v2(**changes))
    assert bad.value.field == field
    assert f"manifest field '{field}'" in str(bad.value)


def test_not_a_json_object_is_refused() -> None:
    with pytest.raises(NotJsonError, match="the top level is a list"):
        Manifest.from_json("[]")


def test_a_mode_given_as_text_is_the_run_mode() -> None:
    manifest = Manifest("b", "bkt", CREATED, (), "s", "m", mode="replay")  # type: ignore[arg-type]
    assert manifest.mode is RunMode.REPLAY
    assert manifest.is_replay
    with pytest.raises(ValueError, match="'sometimes' is not a valid RunMode"):
        Manifest("b", "bkt", CREATED, (), "s", "m", mode="sometimes")  # type: ignore[arg-type]

"""The manifest the DAG writes is the manifest the Spark jobs read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from order_tracking.batch import StagedObject, build_manifest, manifest_json, snapshot_name
from spark_tasks.manifest import ManifestError, parse_manifest


def test_the_jobs_read_each_object_from_its_batch_copy() -> None:
    created = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    name = "staging_zn/orders [1] (copy)?.csv"
    snapshot = snapshot_name("_batches/", "b1", name, "17")
    objects = [StagedObject(name, "17", 5, "m1", "c1", created, snapshot)]
    manifest = build_manifest("b1", "bkt", "_batches/", objects, created)
    (parsed,) = parse_manifest(manifest_json(manifest)).objects
    assert (parsed.name, parsed.generation) == (name, "17")  # what the ledger and lineage record
    assert parsed.uri == f"gs://bkt/{snapshot}"  # where the bytes are read


def test_round_trip_from_the_dag_side() -> None:
    created = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    objects = [
        StagedObject("staging_zn/a.csv", "11", 5, "m1", "c1", created),
        StagedObject("staging_zn/b.csv", "12", 6, None, None, None),
    ]
    parsed = parse_manifest(manifest_json(build_manifest("b1", "bkt", "_batches/", objects, created)))
    assert parsed.batch_id == "b1"
    assert parsed.created_at == created
    assert parsed.object_uris == ["gs://bkt/staging_zn/a.csv", "gs://bkt/staging_zn/b.csv"]
    assert [o.seq for o in parsed.objects] == [1, 2]
    assert parsed.stage_result_uri == "gs://bkt/_batches/b1/stage_result.json"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"version": 3}', "version 3 is not supported"),
        ('{"version": 1, "bucket": "b", "objects": []}', "lacks the field 'batch_id'"),
    ],
)
def test_bad_manifests_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(text)

"""Stage-load job on real Spark + Delta, reading objects from the GCS emulator by gs:// URI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spark_tasks import stage_load

pytestmark = pytest.mark.spark

HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"


def _args(manifest_uri: str, root: Path) -> list[str]:
    return ["--manifest", manifest_uri, "--tables-root", str(root)]


def test_stage_load_writes_rows_with_lineage_and_a_result(
    spark: Any, put_batch: Any, bucket: Any, tmp_path: Path
) -> None:
    uri = put_batch(
        "b1",
        {
            "a.csv": HEADER + "T1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,Oslo,2026-11-28\n"
            "T2,O2,UPS,DELIVERED,2026-11-26T09:00:00Z,Rome,\n",
            "b.csv": HEADER + "T1,O1,UPS,DELIVERED,2026-11-27T08:00:00Z,Oslo,2026-11-28\n",
        },
    )
    stage_load.main(_args(uri, tmp_path))

    rows = spark.read.format("delta").load(str(tmp_path / "stage_zn_new")).collect()
    assert sorted((r.source_object.rsplit("/", 1)[-1], r.record_index, r.tracking_num) for r in rows) == [
        ("a.csv", 1, "T1"),
        ("a.csv", 2, "T2"),
        ("b.csv", 1, "T1"),
    ]
    assert {r.batch_id for r in rows} == {"b1"}
    assert {r.object_seq for r in rows if r.source_object.endswith("b.csv")} == {2}

    result = json.loads(bucket.blob("_batches/b1/stage_result.json").download_as_bytes())
    assert result["rows_staged"] == 3
    assert [(o["name"], o["records_read"], o["destination"]) for o in result["objects"]] == [
        ("staging_zn/a.csv", 2, "archive"),
        ("staging_zn/b.csv", 1, "archive"),
    ]


def test_staging_a_batch_twice_does_not_duplicate_it(spark: Any, put_batch: Any, tmp_path: Path) -> None:
    uri = put_batch("b2", {"a.csv": HEADER + "T9,O9,DHL,PICKED_UP,2026-11-26T08:00:00Z,,\n"})
    stage_load.main(_args(uri, tmp_path))
    stage_load.main(_args(uri, tmp_path))
    assert spark.read.format("delta").load(str(tmp_path / "stage_zn_new")).count() == 1


def test_a_missing_manifest_fails_with_its_uri(tmp_path: Path, spark: Any) -> None:
    missing = "gs://tracking_orders/_batches/nope/manifest.json"
    with pytest.raises(Exception, match=r"nope/manifest\.json"):
        stage_load.main(_args(missing, tmp_path))

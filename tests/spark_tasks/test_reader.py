"""Reading objects as records: record numbering without a shuffle, on real Spark.

Record indexes come from a monotonically increasing id taken straight after the read; they are
right only if each object's records are contiguous in it. These tests pack many small objects into
each Spark partition, mix two header orders, and put quoted newlines and blank lines in the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from spark_tasks import lineage
from spark_tasks.contract import CONTRACT_COLUMNS, SchemaPolicy
from spark_tasks.manifest import ManifestObject
from spark_tasks.reader import READ_ORDER, read_records, with_record_index

pytestmark = pytest.mark.spark

HEADER = CONTRACT_COLUMNS
SHUFFLED = (*CONTRACT_COLUMNS[3:], *CONTRACT_COLUMNS[:3])


def _object(tmp_path: Path, seq: int, header: tuple[str, ...], keys: list[str]) -> ManifestObject:
    """A CSV object whose records hold ``keys`` in order, with a quoted newline and a blank line."""
    lines = [",".join(header)]
    for n, key in enumerate(keys):
        values = {
            "tracking_num": key,
            "order_id": f"O{n}",
            "carrier": "UPS",
            "status": "IN_TRANSIT",
            "event_ts": "2026-11-26T08:00:00Z",
            "location": '"Oslo\nterminal 2"' if n % 3 == 0 else "Oslo",
            "estimated_delivery_date": "",
        }
        lines.append(",".join(values[c] for c in header))
        if n == 1:
            lines.append("")  # a blank line is not a record
    path = tmp_path / f"object_{seq:02d}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    uri = path.as_uri().replace("file:///", "file:/")  # how Spark spells local paths
    return ManifestObject(seq, f"staging_zn/{path.name}", uri, None, None, None, None, None)


def test_record_index_counts_records_within_each_object(spark: Any, tmp_path: Path) -> None:
    expected: dict[str, tuple[str, int, int]] = {}
    objects = []
    for seq in range(1, 15):
        keys = [f"K{seq:02d}N{n:02d}" for n in range(seq % 5 + 1)]
        header = SHUFFLED if seq % 2 else HEADER
        obj = _object(tmp_path, seq, header, keys)
        objects.append((obj, header))
        expected |= {key: (obj.name, seq, n + 1) for n, key in enumerate(keys)}

    records = read_records(spark, objects, SchemaPolicy.FAIL)
    assert records.rdd.getNumPartitions() < len(objects), "several objects must share a partition"
    first = {
        row[lineage.SOURCE_OBJECT]: row["first"]
        for row in records.groupBy(lineage.SOURCE_OBJECT).agg(F.min(READ_ORDER).alias("first")).collect()
    }
    numbered = with_record_index(records, first).collect()

    assert {
        r.tracking_num: (r[lineage.SOURCE_OBJECT], r[lineage.OBJECT_SEQ], r[lineage.RECORD_INDEX])
        for r in numbered
    } == expected
    assert len(numbered) == len(expected)
    assert READ_ORDER not in numbered[0].asDict()


def test_no_objects_read_as_no_records_with_an_empty_index(spark: Any) -> None:
    records = with_record_index(read_records(spark, [], SchemaPolicy.FAIL), {})
    assert records.count() == 0
    assert lineage.RECORD_INDEX in records.columns

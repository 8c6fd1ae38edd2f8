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

from batch_documents import ManifestObject
from spark_tasks import lineage
from spark_tasks.contract import CONTRACT_COLUMNS, CORRUPT_RECORD, WHITESPACE, SchemaPolicy, check_header
from spark_tasks.probe import ProbeResult, parse_header
from spark_tasks.reader import RAW_RECORD, READ_ORDER, read_records, with_record_index
from spark_tasks.validation import REJECT_REASON, classify_records, typed

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


# --- Text is normalised by rule: line endings, whitespace, blank lines (through probe and reader) ---

LF, CRLF = "\n", "\r\n"
ENDINGS = {"LF": LF, "CRLF": CRLF}


def _load(
    spark: Any, tmp_path: Path, files: dict[str, bytes], policy: SchemaPolicy = SchemaPolicy.ADD
) -> Any:
    """``files`` as the stage job takes them in: header probe, one read, record numbering, validation."""
    objects = []
    for seq, (name, data) in enumerate(files.items(), start=1):
        path = tmp_path / name
        path.write_bytes(data)
        uri = path.as_uri().replace("file:///", "file:/")
        names = parse_header(data, complete=True)
        assert not isinstance(names, ProbeResult), (name, names)
        check = check_header(names, policy)
        assert check.quarantine is None, (name, check.detail)
        obj = ManifestObject(seq, f"staging_zn/{name}", uri, None, None, None, None, None)
        objects.append((obj, check.columns))
    records = read_records(spark, objects, policy)
    first = {
        row[lineage.SOURCE_OBJECT]: row["first"]
        for row in records.groupBy(lineage.SOURCE_OBJECT).agg(F.min(READ_ORDER).alias("first")).collect()
    }
    return classify_records(with_record_index(records, first))


def _by_object(classified: Any, *columns: str) -> dict[str, list[tuple[Any, ...]]]:
    """``{object file name: [(record_index, *columns) in record order]}``."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for row in classified.collect():
        name = row[lineage.SOURCE_OBJECT].removeprefix("staging_zn/")
        rows.setdefault(name, []).append((row[lineage.RECORD_INDEX], *(row[c] for c in columns)))
    return {name: sorted(values) for name, values in rows.items()}


def test_handed_case_crlf_rows_under_an_lf_header_with_the_key_last(spark: Any, tmp_path: Path) -> None:
    # feed-robustness/mixed_line_endings_key_cr: keys were stored as 'AB1\r'
    data = (
        b"order_id,carrier,status,event_ts,location,estimated_delivery_date,tracking_num\n"
        b"O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,Oslo,2026-11-28,AB1\r\n"
        b"O2,UPS,DELIVERED,2026-11-26T09:00:00Z,Oslo,2026-11-28,AB2\r\n"
    )
    rows = _by_object(_load(spark, tmp_path, {"crlf_mixed_tn_last.csv": data}), "tracking_num", REJECT_REASON)
    assert rows == {"crlf_mixed_tn_last.csv": [(1, "AB1", None), (2, "AB2", None)]}


def _mixed_endings_object(header_ending: str, row_ending: str, key_last: bool, quoted: bool) -> bytes:
    """Three records under a header with an extra column; quoted newlines of both kinds, empty fields."""
    columns = [*CONTRACT_COLUMNS, "gate"]
    if key_last:
        columns = [*columns[1:], columns[0]]
    rows = [
        {"tracking_num": "K1", "location": "Oslo\nterminal 2", "gate": "G1"},
        {"tracking_num": "K2", "location": "Oslo\r\nterminal 3", "estimated_delivery_date": "", "gate": ""},
        {"tracking_num": "K3", "location": "", "gate": "G3"},
    ]
    base = {"order_id": "O1", "carrier": "UPS", "status": "IN_TRANSIT", "event_ts": "2026-11-26T08:00:00Z"}
    base |= {"estimated_delivery_date": "2026-11-28"}

    def field(value: str) -> str:
        return f'"{value}"' if quoted or "\n" in value else value

    lines = [",".join(field(c) for c in columns) + header_ending]
    lines += [",".join(field({**base, **row}[c]) for c in columns) + row_ending for row in rows]
    return "".join(lines).encode()


def test_line_endings_of_any_mix_parse_the_same(spark: Any, tmp_path: Path) -> None:
    """Every header ending x row ending, key first and last, quoted and unquoted: the same records."""
    files = {
        f"h{h}_r{r}_{'last' if last else 'first'}_{'q' if quoted else 'u'}.csv": _mixed_endings_object(
            ENDINGS[h], ENDINGS[r], last, quoted
        )
        for h in ENDINGS
        for r in ENDINGS
        for last in (False, True)
        for quoted in (False, True)
    }
    columns = (*CONTRACT_COLUMNS, "gate", CORRUPT_RECORD, RAW_RECORD, REJECT_REASON)
    rows = _by_object(_load(spark, tmp_path, files), *columns)
    assert set(rows) == set(files)
    for name, records in rows.items():
        layout = name.split("_", 2)[2]  # key position and quoting
        assert records == rows[f"hLF_rLF_{layout}"], name
        assert [r[1:4] for r in records] == [("K1", "O1", "UPS"), ("K2", "O1", "UPS"), ("K3", "O1", "UPS")]
        assert [r[6] for r in records] == ["Oslo\nterminal 2", "Oslo\r\nterminal 3", None]  # location
        assert [r[8] for r in records] == ["G1", None, "G3"]  # the extra column, an empty one is null
        assert [r[-1] for r in records] == [None, None, None]
        assert not any("\r" in r[-2] and "terminal 3" not in r[-2] for r in records)  # raw_record


def test_whitespace_only_lines_are_blank_lines_in_any_place(spark: Any, tmp_path: Path) -> None:
    """Empty and whitespace-only lines, before the header or between records, are not records."""
    header = ",".join(CONTRACT_COLUMNS)
    blanks = ["", "   ", "\r", "\t \u00a0\u3000", "\u2028"]

    def record(key: str) -> str:
        return f"{key},O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,Oslo,"

    files = {}
    for ending_name, ending in ENDINGS.items():
        for n, blank in enumerate(blanks):
            lines = [blank, header, blank, record("B1"), blank, blank, "B2,too,few", record("B3"), blank]
            files[f"{ending_name}_{n}.csv"] = "".join(line + ending for line in lines).encode()
        files[f"{ending_name}_all.csv"] = "".join(
            line + ending for line in [*blanks, header, *blanks, record("B1"), *blanks, record("B2"), *blanks]
        ).encode()
    rows = _by_object(_load(spark, tmp_path, files), "tracking_num", REJECT_REASON)
    assert set(rows) == set(files)
    for name, records in rows.items():
        if name.endswith("_all.csv"):
            assert records == [(1, "B1", None), (2, "B2", None)], name
        else:
            assert records == [(1, "B1", None), (2, "B2", "malformed_row"), (3, "B3", None)], name


def test_every_white_space_character_around_names_and_values_loads_clean(spark: Any, tmp_path: Path) -> None:
    """Each Unicode White_Space character before and after every header name, key, status and event_ts.

    Fields are quoted (a line break can only be inside quotes), and also unquoted for the characters
    that are not LF or CR (RFC 4180 has no CR or LF outside quotes).
    """
    files = {}
    for char in WHITESPACE:
        for quoted in (True, False):
            if not quoted and char in "\r\n":
                continue

            def pad(text: str, char: str = char, quoted: bool = quoted) -> str:
                return f'"{char}{text}{char}"' if quoted else f"{char}{text}{char}"

            header = ",".join(pad(c.upper()) for c in CONTRACT_COLUMNS)
            record = ",".join(
                [pad("t1"), "O1", "UPS", pad("in transit"), pad("2026-11-26T08:00:00Z"), "Oslo", ""]
            )
            files[f"U{ord(char):04X}_{'q' if quoted else 'u'}.csv"] = f"{header}\n{record}\n".encode()
    assert len(files) == 2 * len(WHITESPACE) - 2
    rows = _by_object(_load(spark, tmp_path, files), "tracking_num", "status", "event_ts", REJECT_REASON)
    expected = [(1, "T1", "IN_TRANSIT", "2026-11-26T08:00:00Z", None)]
    assert rows == dict.fromkeys(files, expected)


def test_handed_case_tab_around_a_key_and_a_status(spark: Any, tmp_path: Path) -> None:
    # feed-robustness/tab_nbsp_not_trimmed: each row was an invalid_status / invalid_tracking_num reject
    data = (
        b"tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"
        b"T1,O1,UPS,DELIVERED\t,2026-11-26T08:00:00Z,Oslo,2026-11-28\n"
        b"T2,O1,UPS,\tDELIVERED,2026-11-26T08:00:00Z,Oslo,2026-11-28\n"
        b"T3\t,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,Oslo,2026-11-28\n"
    )
    rows = _by_object(_load(spark, tmp_path, {"status_trailing_tab.csv": data}), "tracking_num", "status")
    assert rows == {
        "status_trailing_tab.csv": [(1, "T1", "DELIVERED"), (2, "T2", "DELIVERED"), (3, "T3", "IN_TRANSIT")]
    }


def test_handed_case_years_outside_the_range_are_rejected(spark: Any, tmp_path: Path) -> None:
    # feed-robustness/extreme_years: year 1, and year 10000 once in UTC; collect() used to raise
    data = (
        b"tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"
        b"Y1,O1,UPS,IN_TRANSIT,0001-01-01T00:00:00Z,Oslo,\n"
        b"Y2,O1,UPS,IN_TRANSIT,9999-12-31T23:59:59-12:00,Oslo,\n"
    )
    classified = _load(spark, tmp_path, {"extreme_years.csv": data})
    rows = _by_object(classified, "tracking_num", REJECT_REASON)
    assert rows == {"extreme_years.csv": [(1, "Y1", "invalid_event_ts"), (2, "Y2", "invalid_event_ts")]}
    assert typed(classified.where(F.col(REJECT_REASON).isNull())).collect() == []

"""local_frame builds the same rows as createDataFrame, without Python workers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from spark_tasks.local_frame import local_frame
from spark_tasks.schemas import LEDGER_SCHEMA

pytestmark = pytest.mark.spark

AWARE = datetime(2026, 11, 26, 12, 30, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
NAIVE = datetime(1900, 1, 1, 0, 0, 0, 1)  # as PySpark returns timestamps: naive, local time
ODD_TEXT = 'quote " comma , newline \n CR \r tab \t é 漢字 \u2028 \\ {}'


def _ledger_row(seq: int, recorded_at: datetime, text: str | None) -> tuple[Any, ...]:
    return (
        "b1",
        f"obj{seq}.csv",
        "17",
        2**40,
        text,
        None,
        "loaded",
        None,
        text,
        None,
        5,
        4,
        1,
        recorded_at,
        seq,
        1,
    )


def test_rows_equal_those_of_create_data_frame(spark: Any) -> None:
    rows = [
        _ledger_row(1, AWARE, ODD_TEXT),
        _ledger_row(2, NAIVE, None),
        _ledger_row(3, datetime.now(UTC), ""),
    ]
    built = local_frame(spark, rows, LEDGER_SCHEMA)
    assert built.schema.simpleString() == LEDGER_SCHEMA.simpleString()
    assert built.collect() == spark.createDataFrame(rows, LEDGER_SCHEMA).collect()


def test_a_ddl_schema_dates_and_no_rows(spark: Any) -> None:
    rows = [("a", date(2199, 12, 31)), ("b", None)]
    assert (
        local_frame(spark, rows, "name string, day date").collect()
        == spark.createDataFrame(rows, "name string, day date").collect()
    )
    empty = local_frame(spark, [], LEDGER_SCHEMA)
    assert empty.collect() == []
    assert empty.schema.simpleString() == LEDGER_SCHEMA.simpleString()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("a", "1"), r"n \(bigint\) got str"),
        (("a", True), r"n \(bigint\) got bool"),
        (("a", 1.5), r"n \(bigint\) got float"),
        ((1, 1), r"name \(string\) got int"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(spark: Any, row: tuple[Any, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        local_frame(spark, [row], "name string, n bigint")

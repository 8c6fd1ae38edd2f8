"""Small driver-side tables (ledger rows, an audit row, object names) as DataFrames the JVM builds alone.

``SparkSession.createDataFrame`` on a Python list ships the rows as a Python RDD, so every query that
reads them starts Python worker processes: measured 2-4 s a query on 2 cores for three rows, against
0.2-0.5 s for the same rows built in the JVM (``bench/batch_overhead.py``). Literal rows
(``inline(array(struct(lit, ...)))``) avoid the workers but Catalyst slows with the number of
literals (a minute for 500 ledger rows). Here the rows travel as one string literal of JSON lines,
split and parsed by Spark itself: no Python worker, one literal whatever the number of rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# Python types accepted per column type, as createDataFrame's schema check accepts them (bool is no int).
_ACCEPTED: dict[type[DataType], tuple[type, ...]] = {
    StringType: (str,),
    IntegerType: (int,),
    LongType: (int,),
    TimestampType: (datetime,),
    DateType: (date,),
}
# Timestamps and dates travel as Spark's internal numbers (microseconds / days since the epoch),
# computed by PySpark's own conversion, so a naive or aware datetime means what createDataFrame
# makes of it, to the microsecond.
_WIRE: dict[type[DataType], DataType] = {TimestampType: LongType(), DateType: IntegerType()}


def _check(value: Any, field: StructField) -> None:
    accepted = _ACCEPTED.get(type(field.dataType))
    if accepted is None:
        raise TypeError(f"local_frame does not take {field.dataType.simpleString()} columns ({field.name})")
    if value is None:
        if not field.nullable:
            raise TypeError(f"column {field.name} is not nullable, got None")
        return
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise TypeError(f"column {field.name} ({field.dataType.simpleString()}) got {type(value).__name__}")


def _to_wire(value: Any, field: StructField) -> Any:
    _check(value, field)
    return value if value is None or type(field.dataType) not in _WIRE else field.dataType.toInternal(value)


def _from_wire(field: StructField) -> Column:
    column = F.col(f"_row.{field.name}")
    if isinstance(field.dataType, TimestampType):
        column = F.timestamp_micros(column)
    elif isinstance(field.dataType, DateType):
        column = F.date_from_unix_date(column)
    return column.alias(field.name)


def local_frame(spark: SparkSession, rows: Sequence[Sequence[Any]], schema: StructType | str) -> DataFrame:
    """A DataFrame of ``rows`` (tuples in the column order of ``schema``, a StructType or a DDL
    string), like ``createDataFrame``.

    Columns may be strings, integers, longs, timestamps and dates; a value of another Python type
    raises ``TypeError``, as ``createDataFrame``'s schema check does.
    """
    struct = DataType.fromDDL(schema) if isinstance(schema, str) else schema
    assert isinstance(struct, StructType), schema
    fields = struct.fields
    wire = StructType([StructField(f.name, _WIRE.get(type(f.dataType), f.dataType)) for f in fields])
    lines = "\n".join(
        json.dumps({f.name: _to_wire(value, f) for value, f in zip(row, fields, strict=True)}) for row in rows
    )
    return (
        spark.range(1 if rows else 0)
        .select(F.explode(F.split(F.lit(lines), "\n")).alias("_line"))
        .select(F.from_json("_line", wire).alias("_row"))
        .select(*[_from_wire(f) for f in fields])
    )

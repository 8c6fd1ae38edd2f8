"""Reading a batch's readable objects as contract records: one Spark pass over the bytes.

Objects are grouped by their (normalised) header so that each group is read with the columns in
the object's own order; every group is then brought to the same canonical columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import reduce
from operator import and_
from urllib.parse import quote

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from batch_documents import ManifestObject
from spark_tasks import lineage
from spark_tasks.contract import (
    CONTRACT_COLUMNS,
    CORRUPT_RECORD,
    CSV_READ_OPTIONS,
    RESCUED_DATA,
    SchemaPolicy,
)
from spark_tasks.local_frame import local_frame
from spark_tasks.validation import trim_whitespace

RAW_RECORD = "_raw_record"  # working column; the rejects table calls it raw_record
# A record of the right shape is re-encoded from its fields as read (before any trimming): keep
# leading and trailing whitespace, which the CSV writer drops by default.
RAW_RECORD_CSV_OPTIONS = {"ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"}
READ_ORDER = "_read_order"  # contiguous within an object, see with_object_lineage


def record_columns(extra_columns: Sequence[str], policy: SchemaPolicy) -> list[str]:
    """The canonical text columns every read group is brought to."""
    extras = list(extra_columns) if policy is SchemaPolicy.ADD else []
    rescued = [RESCUED_DATA] if policy is SchemaPolicy.RESCUE else []
    return [*CONTRACT_COLUMNS, *extras, *rescued, CORRUPT_RECORD, RAW_RECORD]


def _without_cr_of_crlf(last_field: Column) -> Column:
    """The last field of a line without the CR of a CRLF line ending.

    Lines end at LF (``lineSep`` in ``CSV_READ_OPTIONS``), so Spark leaves a CRLF line's CR at the
    end of its last field when that field is not quoted (after a closing quote it is dropped). An
    empty last field is then the CR alone: null, as an empty field of an LF line is.
    """
    return F.when(last_field == "\r", F.lit(None)).otherwise(F.regexp_replace(last_field, r"\r\z", ""))


def _is_blank_line() -> Column:
    """A blank line: empty or whitespace-only (Unicode White_Space), e.g. the CR of an empty CRLF line.

    Spark skips empty lines; any other line without a delimiter is a record of one field, malformed
    against a header of several (the contract's has five at least), with the line in CORRUPT_RECORD.
    """
    corrupt = F.col(CORRUPT_RECORD)
    return corrupt.isNotNull() & (trim_whitespace(corrupt) == "")


def _is_header_line(header: Sequence[str]) -> Column:
    """A record whose fields are the header's names (trimmed, case-insensitive): the header line.

    Spark takes the first non-empty line for the header; when that is a whitespace-only line (which
    the header probe skips as blank), the header line itself comes through as a record.
    """
    same = [F.lower(trim_whitespace(F.col(c))).eqNullSafe(c) for c in header]
    return reduce(and_, same, F.col(CORRUPT_RECORD).isNull())


def lines_as_records(frame: DataFrame, header: Sequence[str]) -> DataFrame:
    """The records of a CSV read with ``CSV_READ_OPTIONS``, the same whatever each line's ending.

    The CR of CRLF line endings is removed; blank lines and the header line are not records. This is
    a filter of each read task's rows, so records numbered after it are still contiguous per object.
    """
    last = header[-1]
    return frame.withColumn(last, _without_cr_of_crlf(F.col(last))).where(
        ~(_is_blank_line() | _is_header_line(header))
    )


def _to_canonical(
    frame: DataFrame, header: tuple[str, ...], extras: Sequence[str], policy: SchemaPolicy
) -> DataFrame:
    unknown = [c for c in header if c not in CONTRACT_COLUMNS]
    fields: dict[str, Column] = {
        c: F.col(c) if c in header else F.lit(None).cast("string") for c in CONTRACT_COLUMNS
    }
    if policy is SchemaPolicy.ADD:
        fields |= {c: F.col(c) if c in header else F.lit(None).cast("string") for c in extras}
    if policy is SchemaPolicy.RESCUE:
        rescued = F.to_json(F.struct(*[F.col(c) for c in unknown])) if unknown else F.lit(None)
        fields[RESCUED_DATA] = rescued.cast("string")
    fields[CORRUPT_RECORD] = F.col(CORRUPT_RECORD)
    as_read = F.to_csv(F.struct(*[F.col(c) for c in header]), RAW_RECORD_CSV_OPTIONS)
    fields[RAW_RECORD] = F.coalesce(F.col(CORRUPT_RECORD), as_read)
    return frame.select(*[value.alias(name) for name, value in fields.items()], "_source_path")


def read_records(
    spark: SparkSession,
    objects: Sequence[tuple[ManifestObject, tuple[str, ...]]],
    policy: SchemaPolicy,
) -> DataFrame:
    """All records of ``objects`` (each with its header), with source object, seq and read order."""
    extras = sorted({c for _, header in objects for c in header if c not in CONTRACT_COLUMNS})
    by_header: dict[tuple[str, ...], list[ManifestObject]] = defaultdict(list)
    for obj, header in objects:
        by_header[header].append(obj)
    frames = []
    for header, group in by_header.items():
        schema = StructType(
            [StructField(c, StringType()) for c in header] + [StructField(CORRUPT_RECORD, StringType())]
        )
        frame = spark.read.options(**CSV_READ_OPTIONS).schema(schema).csv([obj.uri for obj in group])
        frame = frame.withColumn("_source_path", F.col("_metadata.file_path"))
        frames.append(_to_canonical(lines_as_records(frame, header), header, extras, policy))
    if not frames:
        empty = StructType([StructField(c, StringType()) for c in record_columns(extras, policy)])
        return local_frame(spark, [], empty).withColumns(
            {
                lineage.SOURCE_OBJECT: F.lit(None).cast("string"),
                lineage.OBJECT_SEQ: F.lit(None).cast("int"),
                READ_ORDER: F.lit(None).cast("long"),
            }
        )
    records = frames[0]
    for frame in frames[1:]:
        records = records.unionByName(frame)
    return with_object_lineage(records, [obj for obj, _ in objects])


def with_object_lineage(records: DataFrame, objects: Sequence[ManifestObject]) -> DataFrame:
    """Name each record's object and manifest position, and note its read order.

    An object read with ``multiLine`` is never split across tasks, and one task emits its records
    in file order, so a monotonically increasing id taken straight after the read is contiguous
    within an object. ``with_record_index`` turns it into the record's index with no shuffle.
    Names come from a broadcast join with one row per object: a literal map would be searched key
    by key for every record.
    """
    rows = [
        (path, obj.name, obj.seq)
        for obj in objects
        for path in {obj.uri, quote(obj.uri, safe=":/")}  # Spark reports paths URI-encoded
    ]
    schema = f"_source_path string, {lineage.SOURCE_OBJECT} string, {lineage.OBJECT_SEQ} int"
    names = local_frame(records.sparkSession, rows, schema)
    numbered = records.withColumn(READ_ORDER, F.monotonically_increasing_id())
    return numbered.join(F.broadcast(names), "_source_path", "left").drop("_source_path")


def with_record_index(records: DataFrame, first_read_order: Mapping[str, int]) -> DataFrame:
    """Number records 1.. within each object: read order minus the object's first read order.

    ``first_read_order`` is ``{object name: smallest read order}``, one small aggregate the caller
    usually folds into a count it makes anyway.
    """
    schema = f"{lineage.SOURCE_OBJECT} string, _first_read_order long"
    firsts = local_frame(records.sparkSession, list(first_read_order.items()), schema)
    index = F.col(READ_ORDER) - F.col("_first_read_order") + F.lit(1)
    return (
        records.join(F.broadcast(firsts), lineage.SOURCE_OBJECT, "left")
        .withColumn(lineage.RECORD_INDEX, index.cast("int"))
        .drop(READ_ORDER, "_first_read_order")
    )

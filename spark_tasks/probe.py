"""Object-level checks before any record is read: empty, not UTF-8, and the header's verdict.

Only the first ``PROBE_BYTES`` of an object are read here (the header); the records are read once,
by Spark, afterwards. Invalid UTF-8 later in an object is caught from the parsed records.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from itertools import dropwhile

from pyspark.sql import SparkSession

from spark_tasks import storage
from spark_tasks.contract import WHITESPACE, HeaderCheck, QuarantineReason, SchemaPolicy, check_header

PROBE_BYTES = 64 * 1024
UTF8_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class ProbeResult:
    """Either the object's header verdict, or the reason it is quarantined before reading."""

    header: HeaderCheck | None
    quarantine: QuarantineReason | None = None
    detail: str = ""


def parse_header(prefix: bytes, complete: bool) -> list[str] | ProbeResult:
    """The header row's field names from the first bytes of an object (BOM allowed, RFC 4180).

    The header is the first line that is not blank (empty or whitespace-only: Unicode White_Space).
    Lines end at LF, a CRLF line's CR being part of its ending, as the Spark reader splits them
    (``lineSep``); a CR elsewhere outside quotes is not valid CSV.
    """
    if prefix.startswith(UTF8_BOM):
        prefix = prefix[len(UTF8_BOM) :]
    try:
        text = codecs.getincrementaldecoder("utf-8")("strict").decode(prefix, final=complete)
    except UnicodeDecodeError as err:
        return ProbeResult(
            None, QuarantineReason.NOT_UTF8, f"not valid UTF-8 at byte {err.start}: {err.reason}"
        )
    if not complete:  # the last line may be cut short: only whole lines are read
        text = text[: text.rfind("\n") + 1]
    lines = dropwhile(lambda line: not line.strip(WHITESPACE), io.StringIO(text, newline="\n"))
    try:
        header = next(csv.reader(lines), None)
    except csv.Error as err:
        return ProbeResult(None, QuarantineReason.NO_HEADER, f"the header row is not valid CSV: {err}")
    if header is None and not complete:
        return ProbeResult(
            None, QuarantineReason.NO_HEADER, f"no end of the header row in the first {PROBE_BYTES} bytes"
        )
    if header is None:
        return ProbeResult(None, QuarantineReason.NO_HEADER, "no header row")
    return header


def probe_object(spark: SparkSession, uri: str, size: int | None, policy: SchemaPolicy) -> ProbeResult:
    """Decide from size and header alone whether an object can be read, and with which columns."""
    if size == 0:
        return ProbeResult(None, QuarantineReason.EMPTY_OBJECT, "the object is empty (0 bytes)")
    prefix, complete = storage.read_prefix(spark, uri, PROBE_BYTES)
    if not prefix:
        return ProbeResult(None, QuarantineReason.EMPTY_OBJECT, "the object is empty (0 bytes)")
    parsed = parse_header(prefix, complete)
    if isinstance(parsed, ProbeResult):
        return parsed
    check = check_header(parsed, policy)
    if check.quarantine:
        return ProbeResult(check, check.quarantine, check.detail)
    return ProbeResult(check)

"""Stage-load job: turn one batch of staging objects into stage rows, rejects and ledger entries.

Every object ends with an outcome (loaded, quarantined or duplicate) and every record of a loaded
object ends in the stage table or in the rejects table with a reason. All three writes replace only
this batch's rows (Delta ``replaceWhere`` on ``batch_id``), so re-running the job after a crash at
any point leaves the tables exactly as one clean run would. A dry-run batch is read, validated and
counted the same way, and nothing is written to any table.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from batch_documents import Destination, Manifest, ManifestObject, ObjectOutcome, Outcome, StageResult
from spark_tasks import lineage, storage
from spark_tasks.cli import JobArgs, parse_job_args
from spark_tasks.contract import (
    CONTRACT_COLUMNS,
    CONTRACT_VERSION,
    CORRUPT_RECORD,
    TYPED_SCHEMA,
    QuarantineReason,
    SchemaPolicy,
)
from spark_tasks.local_frame import local_frame
from spark_tasks.probe import ProbeResult, probe_object
from spark_tasks.reader import RAW_RECORD, READ_ORDER, read_records, with_record_index
from spark_tasks.schemas import LEDGER_SCHEMA, REJECTS_SCHEMA, STAGE_SCHEMA
from spark_tasks.tables import TableRef
from spark_tasks.validation import REJECT_DETAIL, REJECT_REASON, classify_records, has_replacement_char, typed

log = logging.getLogger(__name__)

NOT_UTF8 = "_not_utf8"
PROBE_THREADS = 8  # header probes are small reads that mostly wait on storage; read a few at once
SPARK_ERRORS = (PySparkException, Py4JJavaError)  # what a failed Spark action raises in Python


class LineageError(RuntimeError):
    """Records that cannot be tied to their object: nothing of the batch is written."""


@dataclass(frozen=True)
class Origin:
    """Where a replayed object was first loaded: its rows keep that object's name and arrival order."""

    name: str
    ingested_at: datetime
    object_seq: int


def object_identity(obj: ManifestObject) -> str | None:
    """What makes two objects the same bytes: GCS's MD5 (or CRC32C and size for composite objects)."""
    if obj.md5_hash:
        return f"md5:{obj.md5_hash}"
    if obj.crc32c and obj.size is not None:
        return f"crc32c:{obj.crc32c}:{obj.size}"
    return None


def find_duplicates(objects: Sequence[ManifestObject], loaded_before: dict[str, str]) -> dict[str, str]:
    """``{object name: name of the object it repeats}`` for re-delivered bytes, in manifest order."""
    seen = dict(loaded_before)
    duplicates = {}
    for obj in sorted(objects, key=lambda o: o.seq):
        identity = object_identity(obj)
        if identity is None:
            continue
        if identity in seen:
            duplicates[obj.name] = seen[identity]
        else:
            seen[identity] = obj.name
    return duplicates


def _earlier_loads(
    spark: SparkSession, ledger: TableRef, batch_id: str, objects: Sequence[ManifestObject]
) -> list[Row]:
    """Ledger rows of objects that other batches loaded with the same MD5 or CRC32C as ``objects``."""
    if not ledger.exists(spark):  # a dry run before the first load
        return []
    md5s = sorted({obj.md5_hash for obj in objects if obj.md5_hash})
    crcs = sorted({obj.crc32c for obj in objects if obj.crc32c})
    if not md5s and not crcs:
        return []
    table = ledger.read(spark)
    seq = F.col("object_seq") if "object_seq" in table.columns else F.lit(0)  # ledgers of release 1
    return (
        table.where(
            (F.col("outcome") == Outcome.LOADED.value)
            & (F.col("batch_id") != batch_id)
            & (F.col("md5_hash").isin(md5s) | F.col("crc32c").isin(crcs))
        )
        .select(
            "md5_hash", "crc32c", "size", "object_name", "recorded_at", F.coalesce(seq, F.lit(0)).alias("seq")
        )
        .collect()
    )


def _identity_of(row: Row) -> str | None:
    return object_identity(
        ManifestObject(0, row.object_name, "", None, row.size, row.md5_hash, row.crc32c, None)
    )


def loaded_identities(earlier: Sequence[Row]) -> dict[str, str]:
    """``{identity: object name}`` of objects loaded by earlier batches."""
    return {identity: row.object_name for row in earlier if (identity := _identity_of(row))}


def replay_origins(objects: Sequence[ManifestObject], earlier: Sequence[Row]) -> dict[str, Origin]:
    """For each replayed object, the first load of the same bytes (earliest batch, then manifest place).

    A replay must be a pure repair: its rows carry the original object's name and arrival order, so
    that ties resolve as they did when the bytes first arrived. Objects the ledger never saw loaded
    keep the replay batch's own order.
    """
    first: dict[str, Row] = {}
    for row in sorted(earlier, key=lambda r: (r.recorded_at, r.seq)):
        identity = _identity_of(row)
        if identity:
            first.setdefault(identity, row)
    origins = {}
    for obj in objects:
        found = first.get(object_identity(obj) or "")
        if found is not None:
            origins[obj.name] = Origin(found.object_name, found.recorded_at, int(found.seq))
    return origins


def stage_rows(
    valid: DataFrame,
    manifest: Manifest,
    extra_columns: Sequence[str],
    origins: Mapping[str, Origin] | None = None,
) -> DataFrame:
    """Typed stage rows with lineage; replayed objects' rows take their ``origins`` (see replay_origins)."""
    contract = [f.name for f in TYPED_SCHEMA.fields]
    rows = typed(valid).withColumns(
        {
            lineage.BATCH_ID: F.lit(manifest.batch_id),
            lineage.INGESTED_AT: F.lit(manifest.created_at).cast("timestamp"),
        }
    )
    if origins:
        schema = "_replayed string, _origin_name string, _origin_ingested_at timestamp, _origin_seq int"
        firsts = local_frame(
            valid.sparkSession,
            [(name, o.name, o.ingested_at, o.object_seq) for name, o in origins.items()],
            schema,
        )
        rows = rows.join(
            F.broadcast(firsts), rows[lineage.SOURCE_OBJECT] == firsts["_replayed"], "left"
        ).withColumns(
            {
                lineage.SOURCE_OBJECT: F.coalesce("_origin_name", lineage.SOURCE_OBJECT),
                lineage.INGESTED_AT: F.coalesce("_origin_ingested_at", lineage.INGESTED_AT),
                lineage.OBJECT_SEQ: F.coalesce("_origin_seq", lineage.OBJECT_SEQ),
            }
        )
    return rows.select(*contract, *extra_columns, *lineage.STAGE_LINEAGE_COLUMNS)


def reject_rows(rejected: DataFrame, manifest: Manifest) -> DataFrame:
    return rejected.select(
        F.lit(manifest.batch_id).alias("batch_id"),
        F.col(lineage.SOURCE_OBJECT).alias("source_object"),
        F.col(lineage.RECORD_INDEX).alias("record_index"),
        F.col(REJECT_REASON).alias("reason"),
        F.col(REJECT_DETAIL).alias("detail"),
        F.col(RAW_RECORD).alias("raw_record"),
        F.lit(manifest.created_at).cast("timestamp").alias("rejected_at"),
    )


def ledger_rows(spark: SparkSession, manifest: Manifest, outcomes: list[ObjectOutcome]) -> DataFrame:
    by_name = {o.name: o for o in outcomes}
    rows = [
        (
            manifest.batch_id,
            obj.name,
            obj.generation,
            obj.size,
            obj.md5_hash,
            obj.crc32c,
            by_name[obj.name].outcome.value,  # plain text: Spark ships rows to the JVM pickled
            by_name[obj.name].reason,
            by_name[obj.name].detail,
            by_name[obj.name].duplicate_of,
            by_name[obj.name].records_read,
            by_name[obj.name].rows_loaded,
            by_name[obj.name].rows_rejected,
            manifest.created_at,
            obj.seq,
            CONTRACT_VERSION,
        )
        for obj in manifest.objects
    ]
    return local_frame(spark, rows, LEDGER_SCHEMA)


def _replace_batch(table: TableRef, rows: DataFrame, batch_id: str, merge_schema: bool = False) -> None:
    writer = rows.write.format("delta").mode("overwrite").option("replaceWhere", f"batch_id = '{batch_id}'")
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    table.save(writer)


def probe_objects(
    spark: SparkSession, objects: Sequence[ManifestObject], policy: SchemaPolicy
) -> list[ProbeResult]:
    """Each object's header verdict, in order; a few objects are probed at once."""
    with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
        return list(pool.map(lambda obj: probe_object(spark, obj.uri, obj.size, policy), objects))


def screen_objects(
    spark: SparkSession, manifest: Manifest, args: JobArgs
) -> tuple[dict[str, ObjectOutcome], list[tuple[ManifestObject, tuple[str, ...]]]]:
    """Outcomes of the objects that are not read (bad header, re-delivered bytes) and the readable rest."""
    policy = args.schema_policy
    outcomes: dict[str, ObjectOutcome] = {}
    readable: list[tuple[ManifestObject, tuple[str, ...]]] = []
    candidates = []
    for obj, probe in zip(manifest.objects, probe_objects(spark, manifest.objects, policy), strict=True):
        if probe.quarantine:
            outcomes[obj.name] = ObjectOutcome(
                obj.name,
                Outcome.QUARANTINED,
                Destination.QUARANTINE,
                reason=probe.quarantine.value,
                detail=probe.detail,
            )
        else:
            assert probe.header is not None
            candidates.append((obj, probe.header.columns))
    duplicates: dict[str, str] = {}
    if not manifest.is_replay:  # a replay loads archived bytes again on purpose: no re-delivery check
        earlier = _earlier_loads(spark, args.ledger, manifest.batch_id, manifest.objects)
        duplicates = find_duplicates([obj for obj, _ in candidates], loaded_identities(earlier))
    for obj, header in candidates:
        if obj.name in duplicates:
            outcomes[obj.name] = ObjectOutcome(
                obj.name,
                Outcome.DUPLICATE,
                Destination.ARCHIVE,
                reason=Outcome.DUPLICATE.value,
                detail=f"same bytes as {duplicates[obj.name]}",
                duplicate_of=duplicates[obj.name],
            )
        else:
            readable.append((obj, header))
    return outcomes, readable


def classify_for_staging(records: DataFrame) -> DataFrame:
    """Records with their reject reason, a not-UTF-8 flag, and ``raw_record`` for rejects only.

    Spark then builds the raw CSV text only for the records that need it, and the UTF-8 check skips
    it: it repeats the fields (or the malformed record) that are checked already.
    """
    skip = (*lineage.STAGE_LINEAGE_COLUMNS, READ_ORDER, RAW_RECORD)
    text_columns = [c for c in records.columns if c not in skip]
    return classify_records(records).withColumns(
        {
            NOT_UTF8: has_replacement_char(text_columns),
            RAW_RECORD: F.when(F.col(REJECT_REASON).isNotNull(), F.col(RAW_RECORD)),
        }
    )


@dataclass
class ObjectTally:
    """What one pass over an object's classified records says about it."""

    read: int = 0
    rejected: int = 0
    first_read_order: int = 0
    not_utf8: bool = False
    reject_reasons: Counter[str] = field(default_factory=Counter)


def tally_records(classified: DataFrame) -> dict[str, ObjectTally]:
    """Per object: records read, rejects by reason, first read order and invalid UTF-8, in one action."""
    rows = (
        classified.groupBy(lineage.SOURCE_OBJECT, REJECT_REASON)
        .agg(
            F.count("*").alias("records"),
            F.min(READ_ORDER).alias("first_read_order"),
            F.max(NOT_UTF8).alias("not_utf8"),
        )
        .collect()
    )
    tallies: dict[str, ObjectTally] = {}
    for row in rows:
        first = row["first_read_order"]
        tally = tallies.setdefault(row[lineage.SOURCE_OBJECT], ObjectTally(first_read_order=first))
        tally.read += row["records"]
        tally.first_read_order = min(tally.first_read_order, first)
        tally.not_utf8 = tally.not_utf8 or bool(row["not_utf8"])
        if row[REJECT_REASON] is not None:
            tally.rejected += row["records"]
            tally.reject_reasons[row[REJECT_REASON]] += row["records"]
    return tallies


def _error_summary(err: Exception) -> str:
    """The first line of a Spark error, short enough for a ledger entry."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    cause = next((line for line in lines if "Exception:" in line or "[" in line), lines[0] if lines else "")
    return cause[:500]


def find_unreadable(
    spark: SparkSession, readable: Sequence[tuple[ManifestObject, tuple[str, ...]]], policy: SchemaPolicy
) -> dict[str, str]:
    """``{object name: error}`` for the objects whose records alone fail the job's read and tally.

    Called only after a whole-batch read failed: each object is then read on its own, with the same
    code, so one unreadable object (say, a row wider than Spark's column limit) is quarantined
    instead of failing the batch, and a failure no single object explains is raised as it is.
    """
    unreadable = {}
    for obj, header in readable:
        try:
            tally_records(classify_for_staging(read_records(spark, [(obj, header)], policy)))
        except SPARK_ERRORS as err:
            unreadable[obj.name] = _error_summary(err)
            log.warning("object %s (generation %s) is unreadable: %s", obj.name, obj.generation, err)
    return unreadable


def read_and_tally(
    spark: SparkSession, readable: Sequence[tuple[ManifestObject, tuple[str, ...]]], policy: SchemaPolicy
) -> tuple[DataFrame, dict[str, ObjectTally]]:
    """The cached, classified records of ``readable`` and their per-object tally.

    Raises LineageError if any record cannot be tied to its object: then nothing may be written.
    """
    records = read_records(spark, readable, policy)
    classified = classify_for_staging(records).cache()
    try:
        tallies = tally_records(classified)
    except BaseException:
        classified.unpersist()
        raise
    orphans = tallies.pop(None, None)  # type: ignore[call-overload]
    if orphans is not None:
        classified.unpersist()
        raise LineageError(
            f"{orphans.read} records could not be tied to the object they were read from; "
            "the batch is not written"
        )
    return classified, tallies


def read_quarantining_unreadable(
    spark: SparkSession,
    readable: list[tuple[ManifestObject, tuple[str, ...]]],
    policy: SchemaPolicy,
    outcomes: dict[str, ObjectOutcome],
) -> tuple[list[tuple[ManifestObject, tuple[str, ...]]], DataFrame, dict[str, ObjectTally]]:
    """``read_and_tally`` of the batch; if that fails, unreadable objects go to ``outcomes`` as quarantined.

    Returns the objects actually read, their classified records and their tally.
    """
    try:
        return (readable, *read_and_tally(spark, readable, policy))
    except SPARK_ERRORS:
        unreadable = find_unreadable(spark, readable, policy)
        if not unreadable:
            raise
    for name, error in unreadable.items():
        outcomes[name] = ObjectOutcome(
            name,
            Outcome.QUARANTINED,
            Destination.QUARANTINE,
            reason=QuarantineReason.UNREADABLE.value,
            detail=error,
        )
    readable = [(obj, header) for obj, header in readable if obj.name not in unreadable]
    return (readable, *read_and_tally(spark, readable, policy))


def run_stage_load(spark: SparkSession, manifest: Manifest, args: JobArgs) -> StageResult:
    """Stage one batch and say, per object, what happened to it and where it goes."""
    if not manifest.dry_run:
        for table, schema in (
            (args.stage, STAGE_SCHEMA),
            (args.rejects, REJECTS_SCHEMA),
            (args.ledger, LEDGER_SCHEMA),
        ):
            table.ensure(spark, schema)
    policy = args.schema_policy
    outcomes, readable = screen_objects(spark, manifest, args)
    readable, classified, tallies = read_quarantining_unreadable(spark, readable, policy, outcomes)

    try:
        not_utf8 = sorted(name for name, tally in tallies.items() if tally.not_utf8)
        kept = classified.where(~F.col(lineage.SOURCE_OBJECT).isin(not_utf8)) if not_utf8 else classified
        extras = [
            c
            for c in classified.columns
            if c not in (*CONTRACT_COLUMNS, CORRUPT_RECORD, RAW_RECORD, READ_ORDER, NOT_UTF8)
            and c not in (*lineage.STAGE_LINEAGE_COLUMNS, REJECT_REASON, REJECT_DETAIL)
        ]
        if not manifest.dry_run:
            origins = {}
            if manifest.is_replay:
                earlier = _earlier_loads(spark, args.ledger, manifest.batch_id, manifest.objects)
                origins = replay_origins(manifest.objects, earlier)
            first_read_order = {name: tally.first_read_order for name, tally in tallies.items()}
            _write_batch(args, manifest, with_record_index(kept, first_read_order), extras, origins)
    finally:
        classified.unpersist()

    reject_reasons: Counter[str] = Counter()
    for obj, _ in readable:
        tally = tallies.get(obj.name, ObjectTally())
        if tally.not_utf8:
            outcomes[obj.name] = ObjectOutcome(
                obj.name,
                Outcome.QUARANTINED,
                Destination.QUARANTINE,
                reason=QuarantineReason.NOT_UTF8.value,
                detail="the object holds bytes that are not valid UTF-8",
            )
        else:
            read, rejected = tally.read, tally.rejected
            outcomes[obj.name] = ObjectOutcome(
                obj.name, Outcome.LOADED, Destination.ARCHIVE, read, read - rejected, rejected
            )
            reject_reasons.update(tally.reject_reasons)
    ordered = [outcomes[obj.name] for obj in manifest.objects]
    if not manifest.dry_run:
        _replace_batch(args.ledger, ledger_rows(spark, manifest, ordered), manifest.batch_id)
    return StageResult(manifest.batch_id, policy, tuple(ordered), manifest.dry_run, dict(reject_reasons))


def _write_batch(
    args: JobArgs,
    manifest: Manifest,
    kept: DataFrame,
    extras: list[str],
    origins: Mapping[str, Origin],
) -> None:
    """This batch's stage rows and rejects, each replacing what an earlier attempt wrote."""
    _replace_batch(
        args.stage,
        stage_rows(kept.where(F.col(REJECT_REASON).isNull()), manifest, extras, origins),
        manifest.batch_id,
        merge_schema=bool(extras),
    )
    _replace_batch(
        args.rejects,
        reject_rows(kept.where(F.col(REJECT_REASON).isNotNull()), manifest),
        manifest.batch_id,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point (``stage_load``): stage the batch named by ``--manifest`` and write its result."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_job_args(sys.argv[1:] if argv is None else argv, description=__doc__ or "")
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    manifest = Manifest.from_json(storage.read_text(spark, args.manifest_uri))
    result = run_stage_load(spark, manifest, args)
    storage.write_text(spark, manifest.stage_result_uri, result.to_json())
    log.info(
        "staged batch %s: %d rows from %d objects", result.batch_id, result.rows_staged, len(result.objects)
    )

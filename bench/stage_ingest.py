"""Section 1, stage ingest: our ``stage_load`` job against the floor (a typed CSV read appended to
Delta) on the same files, then the job's phases one by one (``docs/benchmarks-notes.md``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from bench import datagen
from bench.section import BenchContext, SectionResult, table
from bench.spark_metrics import Execution, executions_after, last_execution_id
from bench.timing import fmt_seconds, ratio, timed, timing
from spark_tasks import stage_load
from spark_tasks.contract import CONTRACT_COLUMNS, CORRUPT_RECORD, CSV_READ_OPTIONS, TYPED_SCHEMA
from spark_tasks.manifest import BatchManifest
from spark_tasks.reader import read_records, with_object_lineage, with_record_index
from spark_tasks.schemas import LEDGER_DDL, REJECTS_DDL, STAGE_DDL
from spark_tasks.tables import TableRef
from spark_tasks.validation import REJECT_REASON

TARGET_RATIO = 0.8  # stage throughput at least 0.8x the floor's


def run_ours(spark: SparkSession, manifest: BatchManifest, root: Path) -> stage_load.StageResult:
    return stage_load.run_stage_load(spark, manifest, datagen.job_args(root))


def create_tables(spark: SparkSession, root: Path) -> None:
    """Both sides write into existing empty tables, as in production: creating them is not timed."""
    args = datagen.job_args(root)
    for ref, ddl in ((args.stage, STAGE_DDL), (args.rejects, REJECTS_DDL), (args.ledger, LEDGER_DDL)):
        ref.create_if_missing(spark, ddl, {})
    spark.createDataFrame([], TYPED_SCHEMA).write.format("delta").save(str(root / "floor"))


def run_floor(spark: SparkSession, uris: list[str], path: Path) -> None:
    """Same files, same CSV options, explicit typed schema, straight to Delta: no validation, no lineage."""
    options = {k: v for k, v in CSV_READ_OPTIONS.items() if k != "columnNameOfCorruptRecord"}
    frame = spark.read.options(**options).schema(TYPED_SCHEMA).csv(uris)
    frame.write.format("delta").mode("append").save(str(path))


@dataclass(frozen=True)
class Breakdown:
    """Seconds of each phase of one more stage run, and of the floor read as text."""

    probe: float
    read_validate_cache_count: float
    stage_write: float
    rejects_write: float
    text_floor: float  # read as text with the job's CSV options, write: no typing, no numbering
    text_floor_with_lineage: float  # the same plus with_object_lineage


def _overwrite(frame: DataFrame, path: Path) -> None:
    frame.write.format("delta").mode("overwrite").save(str(path))


def _replace(ref: TableRef, rows: DataFrame, batch_id: str) -> None:
    ref.save(rows.write.format("delta").mode("overwrite").option("replaceWhere", f"batch_id = '{batch_id}'"))


def breakdown(spark: SparkSession, manifest: BatchManifest, root: Path) -> Breakdown:
    args = datagen.job_args(root)
    policy = args.schema_policy
    create_tables(spark, root)
    probe_s, probes = timed(lambda: stage_load.probe_objects(spark, manifest.objects, policy))
    readable = [(o, p.header.columns) for o, p in zip(manifest.objects, probes, strict=True) if p.header]
    classified = stage_load.classify_for_staging(read_records(spark, readable, policy)).cache()
    try:
        read_s, tallies = timed(lambda: stage_load.tally_records(classified))
        numbered = with_record_index(classified, {n: t.first_read_order for n, t in tallies.items()})
        bad = F.col(REJECT_REASON).isNotNull()
        staged = stage_load.stage_rows(numbered.where(~bad), manifest, [])
        stage_s, _ = timed(lambda: _replace(args.stage, staged, manifest.batch_id))
        rejected = stage_load.reject_rows(numbered.where(bad), manifest)
        rejects_s, _ = timed(lambda: _replace(args.rejects, rejected, manifest.batch_id))
    finally:
        classified.unpersist()
    schema = StructType([StructField(c, StringType()) for c in (*CONTRACT_COLUMNS, CORRUPT_RECORD)])
    text = spark.read.options(**CSV_READ_OPTIONS).schema(schema).csv([o.uri for o in manifest.objects])
    text_s, _ = timed(lambda: _overwrite(text, root / "text_floor"))
    lineage = with_object_lineage(
        text.withColumn("_source_path", F.col("_metadata.file_path")), manifest.objects
    )
    lineage_s, _ = timed(lambda: _overwrite(lineage, root / "text_floor_lineage"))
    return Breakdown(probe_s, read_s, stage_s, rejects_s, text_s, lineage_s)


class StageIngestSection:
    name = "stage"
    title = "Stage ingest: our stage_load against the floor"

    def run(self, ctx: BenchContext) -> SectionResult:
        spark, cfg, base = ctx.spark, ctx.config, ctx.config.work_dir / "stage"
        shutil.rmtree(base, ignore_errors=True)
        (base / "feed").mkdir(parents=True)
        ctx.log(f"stage: generating {cfg.stage_rows:,} records in {cfg.stage_objects} objects")
        objects = cfg.stage_objects
        feed = datagen.write_feed(
            spark, base / "feed", rows=cfg.stage_rows, objects=objects, bad_share=cfg.bad_share, seed=cfg.seed
        )
        created = datetime(2026, 11, 26, 12, tzinfo=UTC)
        uris = [obj.uri for obj in datagen.feed_manifest(feed, "probe", created).objects]
        if cfg.warm_up:  # one untimed run of each side on two objects: the JIT and Delta's first-use costs
            create_tables(spark, base / "warm")
            warm = datagen.feed_manifest(datagen.Feed(feed.paths[:2], 0, 0, 0), "warmup", created)
            run_ours(spark, warm, base / "warm")
            run_floor(spark, uris[:2], base / "warm" / "floor")
        seconds: dict[str, list[float]] = {"ours": [], "floor": []}
        profile: list[Execution] = []
        for rep in range(cfg.repeats):
            manifest = datagen.feed_manifest(feed, f"bench_r{rep}", created)
            for side in ("ours", "floor")[:: 1 if rep % 2 == 0 else -1]:  # interleaved: fair to drift
                out = base / f"{side}_r{rep}"
                create_tables(spark, out)
                if side == "ours":
                    mark = last_execution_id(spark)
                    took, staged = timed(partial(run_ours, spark, manifest, out))
                    profile = executions_after(spark, mark)
                else:
                    took, _ = timed(partial(run_floor, spark, uris, out / "floor"))
                seconds[side].append(took)
                ctx.log(f"stage: {side} rep {rep + 1}/{cfg.repeats}: {fmt_seconds(took)}")
                shutil.rmtree(out, ignore_errors=True)
        ctx.log("stage: breakdown of one more run of our job, phase by phase")
        b = breakdown(spark, manifest, base / "breakdown")
        shutil.rmtree(base, ignore_errors=True)

        ours, floor = timing(seconds["ours"]), timing(seconds["floor"])
        records = feed.records
        ours_rate, floor_rate = records / ours.median, records / floor.median
        share = ratio(ours_rate, floor_rate)
        rejected = sum(o.rows_rejected for o in staged.objects)
        rest = max(ours.median - b.probe - b.read_validate_cache_count - b.stage_write - b.rejects_write, 0.0)
        result = SectionResult(self.name, self.title)
        result.add("stage_records", records, "rows")
        result.add("stage_rows_rejected", rejected, "rows")
        result.add("stage_ours_seconds", ours.median, "s")
        result.add("stage_floor_seconds", floor.median, "s")
        result.add("stage_ours_rows_per_second", ours_rate, "rows/s")
        result.add("stage_floor_rows_per_second", floor_rate, "rows/s")
        result.add("stage_throughput_ratio", share, "x")
        result.check(
            f"stage ingest >= {TARGET_RATIO}x the floor's throughput",
            f"{share:.2f}x ({ours_rate:,.0f} vs {floor_rate:,.0f} rows/s)",
            share >= TARGET_RATIO,
            f"{TARGET_RATIO / share:.2f}x too slow",
        )
        phases = [
            (f"header probe of every object ({stage_load.PROBE_THREADS} at a time)", b.probe),
            ("read + validate + cache, tallied per object and reject reason", b.read_validate_cache_count),
            ("stage rows write", b.stage_write),
            ("rejects write", b.rejects_write),
            ("rest of a median run (the job's other Delta actions)", rest),
            ("*floor, all columns as text, no typing*", b.text_floor),
            ("*the same plus `with_object_lineage`*", b.text_floor_with_lineage),
        ]
        methods = [
            ("our stage_load", ours, ours_rate),
            ("floor: typed CSV read, append to Delta", floor, floor_rate),
        ]
        result.markdown = "\n".join(
            [
                f"{records:,} records in {objects} objects ({feed.total_bytes / 1e6:,.0f} MB of CSV, "
                f"{feed.bad_records:,} bad = {feed.bad_records / max(records, 1):.1%}; the job rejected "
                f"{rejected:,}); {cfg.repeats} repetitions, interleaved"
                + (", after one untimed warm-up of each." if cfg.warm_up else "."),
                "",
                *table(
                    "method | seconds, median (min-max) | rows/s | vs floor",
                    [(m, t.text(), f"{r:,.0f}", f"{r / floor_rate:.2f}x") for m, t, r in methods],
                ),
                "",
                f"Longest SQL executions of our job's last repetition ({fmt_seconds(ours.runs[-1])}; "
                "they nest):",
                "",
                *table(
                    "SQL execution | seconds | joins",
                    [(e.description, f"{e.seconds:.2f}", ", ".join(e.joins) or "-") for e in profile[:6]],
                ),
                "",
                "Breakdown: one more run of our job, phase by phase, and the floor read as text:",
                "",
                *table("phase | seconds", [(name, f"{s:.1f}") for name, s in phases]),
            ]
        )
        result.raw = {
            "feed": feed,
            "rows_rejected": rejected,
            "rows_staged": staged.rows_staged,
            "ours": ours,
            "floor": floor,
            "breakdown": b,
            "profile": profile,
        }
        return result

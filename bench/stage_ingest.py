"""Section 1, stage ingest: our ``stage_load`` job against the floor (a typed CSV read appended to
Delta) on the same files, then the job's phases one by one (``docs/benchmarks-notes.md``).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from bench import datagen
from bench.section import BenchContext, SectionResult, fmt_seconds, ratio, table, timed, timing
from bench.spark_metrics import Execution, executions_after, last_execution_id
from spark_tasks import stage_load
from spark_tasks.contract import CONTRACT_COLUMNS, CORRUPT_RECORD, CSV_READ_OPTIONS, TYPED_SCHEMA
from spark_tasks.manifest import BatchManifest
from spark_tasks.reader import read_records, with_object_lineage, with_record_index
from spark_tasks.schemas import LEDGER_SCHEMA, REJECTS_SCHEMA, STAGE_SCHEMA
from spark_tasks.stage_load import run_stage_load
from spark_tasks.tables import TableRef
from spark_tasks.validation import REJECT_REASON

TARGET_RATIO = 0.8  # stage throughput at least 0.8x the floor's


def create_tables(spark: SparkSession, root: Path) -> None:
    """Both sides write into existing empty tables, as in production: creating them is not timed."""
    args = datagen.job_args(root)
    args.stage.ensure(spark, STAGE_SCHEMA)
    args.rejects.ensure(spark, REJECTS_SCHEMA)
    args.ledger.ensure(spark, LEDGER_SCHEMA)
    spark.createDataFrame([], TYPED_SCHEMA).write.format("delta").save(str(root / "floor"))


def run_floor(spark: SparkSession, uris: list[str], path: Path) -> None:
    """Same files, same CSV options, explicit typed schema, straight to Delta: no validation, no lineage."""
    options = {k: v for k, v in CSV_READ_OPTIONS.items() if k != "columnNameOfCorruptRecord"}
    frame = spark.read.options(**options).schema(TYPED_SCHEMA).csv(uris)
    frame.write.format("delta").mode("append").save(str(path))


def _overwrite(frame: DataFrame, path: Path) -> None:
    frame.write.format("delta").mode("overwrite").save(str(path))


def _replace(ref: TableRef, rows: DataFrame, batch_id: str) -> None:
    ref.save(rows.write.format("delta").mode("overwrite").option("replaceWhere", f"batch_id = '{batch_id}'"))


def breakdown(spark: SparkSession, manifest: BatchManifest, root: Path, median: float) -> dict[str, float]:
    """Seconds of each phase of one more stage run, the rest of a ``median`` run, and of the floor read
    as text (the job's CSV options, no typing) without and with the record lineage; by page label."""
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
    phases = {
        f"header probe of every object ({stage_load.PROBE_THREADS} at a time)": probe_s,
        "read + validate + cache, tallied per object and reject reason": read_s,
        "stage rows write": stage_s,
        "rejects write": rejects_s,
    }
    return phases | {
        "rest of a median run (the job's other Delta actions)": max(median - sum(phases.values()), 0.0),
        "*floor, all columns as text, no typing*": text_s,
        "*the same plus `with_object_lineage`*": lineage_s,
    }


class StageIngestSection:
    name = "stage"
    title = "Stage ingest: our stage_load against the floor"

    def run(self, ctx: BenchContext) -> SectionResult:
        spark, cfg, base = ctx.spark, ctx.config, ctx.config.work_dir / "stage"
        shutil.rmtree(base, ignore_errors=True)
        (base / "feed").mkdir(parents=True)
        objects = cfg.stage_objects
        ctx.log(f"stage: generating {cfg.stage_rows:,} records in {objects} objects")
        feed = datagen.write_feed(
            spark, base / "feed", rows=cfg.stage_rows, objects=objects, bad_share=cfg.bad_share, seed=cfg.seed
        )
        manifest = datagen.feed_manifest(feed, "bench", datetime(2026, 11, 26, 12, tzinfo=UTC))
        uris = [obj.uri for obj in manifest.objects]
        if cfg.warm_up:  # one untimed run of each side on two objects: the JIT and Delta's first-use costs
            create_tables(spark, base / "warm")
            warm = replace(manifest, batch_id="warmup", objects=manifest.objects[:2])
            run_stage_load(spark, warm, datagen.job_args(base / "warm"))
            run_floor(spark, uris[:2], base / "warm" / "floor")
        seconds: dict[str, list[float]] = {"ours": [], "floor": []}
        profile: list[Execution] = []
        for rep in range(cfg.repeats):
            manifest = replace(manifest, batch_id=f"bench_r{rep}")
            for side in ("ours", "floor")[:: 1 if rep % 2 == 0 else -1]:  # interleaved: fair to drift
                out = base / f"{side}_r{rep}"
                create_tables(spark, out)
                if side == "ours":
                    mark = last_execution_id(spark)
                    took, staged = timed(partial(run_stage_load, spark, manifest, datagen.job_args(out)))
                    profile = executions_after(spark, mark)
                else:
                    took, _ = timed(partial(run_floor, spark, uris, out / "floor"))
                seconds[side].append(took)
                ctx.log(f"stage: {side} rep {rep + 1}/{cfg.repeats}: {fmt_seconds(took)}")
                shutil.rmtree(out, ignore_errors=True)
        ours, floor = timing(seconds["ours"]), timing(seconds["floor"])
        ctx.log("stage: breakdown of one more run of our job, phase by phase")
        phases = breakdown(spark, manifest, base / "breakdown", ours.median)
        shutil.rmtree(base, ignore_errors=True)

        records = feed.records
        ours_rate, floor_rate = records / ours.median, records / floor.median
        share = ratio(ours_rate, floor_rate)
        rejected = sum(o.rows_rejected for o in staged.objects)
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
        methods = [("our stage_load", ours), ("floor: typed CSV read, append to Delta", floor)]
        result.markdown = "\n\n".join(
            [
                f"{records:,} records in {objects} objects ({feed.total_bytes / 1e6:,.0f} MB of CSV, "
                f"{feed.bad_records:,} bad = {feed.bad_records / max(records, 1):.1%}; the job rejected "
                f"{rejected:,}); {cfg.repeats} repetitions, interleaved"
                + (", after one untimed warm-up of each." if cfg.warm_up else "."),
                table(
                    "method | seconds, median (min-max) | rows/s | vs floor",
                    [
                        (m, t.text(), f"{records / t.median:,.0f}", f"{floor.median / t.median:.2f}x")
                        for m, t in methods
                    ],
                ),
                f"Longest SQL executions of our job's last repetition ({fmt_seconds(ours.runs[-1])}; "
                "they nest):",
                table(
                    "SQL execution | seconds | joins",
                    [(e.description, f"{e.seconds:.2f}", ", ".join(e.joins) or "-") for e in profile[:6]],
                ),
                "Breakdown: one more run of our job, phase by phase, and the floor read as text:",
                table("phase | seconds", [(name, f"{s:.1f}") for name, s in phases.items()]),
            ]
        )
        result.raw = {
            "feed": feed,
            "rows_rejected": rejected,
            "rows_staged": staged.rows_staged,
            "ours": ours,
            "floor": floor,
            "breakdown": phases,
            "profile": profile,
        }
        return result

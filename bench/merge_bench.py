"""Section 2, merge: our merge job against a full rewrite and the delete-then-append notebook pattern,
in rotating order, the target restored after each run (``docs/benchmarks-notes.md``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench import datagen
from bench import spark_metrics as metrics
from bench.section import BenchContext, SectionResult, Timing, fmt_seconds, ratio, table, timed, timing
from bench.spark_metrics import Execution, PeakMemory, WriteCost
from spark_tasks import lineage, merge
from spark_tasks.cli import JobArgs
from spark_tasks.contract import KEY_COLUMN
from spark_tasks.manifest import BatchManifest
from spark_tasks.transforms import latest_per_key

OURS, REWRITE, DELETE_APPEND = "merge", "full_rewrite", "delete_append"
REWRITE_TARGET = 5.0  # merge of a 1% batch into the largest target >= 5x faster than a full rewrite
SCALING_TARGET = 2.5  # merge(largest) / merge(smallest) <= 2.5 for the same batch


def run_ours(spark: SparkSession, args: JobArgs, batch_id: str) -> dict[str, int]:
    manifest = BatchManifest(batch_id, "bench", datagen.BATCH_INGESTED_AT, (), "", "")  # it reads the id only
    result = merge.run_merge(spark, manifest, args)
    return {key: int(getattr(result, key)) for key in datagen.batch_shape(0)}


def full_rewrite(spark: SparkSession, args: JobArgs, batch_id: str) -> None:
    """Union the target with the batch, keep the latest row per key (our ordering), overwrite the table."""
    current = args.target.read(spark)
    old = current.withColumns({lineage.OBJECT_SEQ: F.lit(0), lineage.RECORD_INDEX: F.lit(0)})
    batch = args.stage.read(spark).where(F.col(lineage.BATCH_ID) == batch_id)
    latest = latest_per_key(old.unionByName(batch.select(*old.columns))).select(*current.columns)
    args.target.save(latest.write.format("delta").mode("overwrite"))


def delete_then_append(spark: SparkSession, args: JobArgs, batch_id: str) -> None:
    """Delete the batch's keys (MERGE ... WHEN MATCHED DELETE), append its latest rows: no event order."""
    batch = args.stage.read(spark).where(F.col(lineage.BATCH_ID) == batch_id)
    latest = latest_per_key(batch).select(*args.target.read(spark).columns).cache()
    try:
        keys = latest.select(KEY_COLUMN).alias("s")
        condition = f"t.{KEY_COLUMN} = s.{KEY_COLUMN}"
        args.target.delta_table(spark).alias("t").merge(keys, condition).whenMatchedDelete().execute()
        args.target.save(latest.write.format("delta").mode("append"))
    finally:
        latest.unpersist()


# method -> (its label on the page, how it runs); our job returns its counts
METHODS: dict[str, tuple[str, Callable[[SparkSession, JobArgs, str], dict[str, int] | None]]] = {
    OURS: ("our merge job", run_ours),
    REWRITE: ("full rewrite (union, latest per key, overwrite)", full_rewrite),
    DELETE_APPEND: ("notebook: delete matched keys, append", delete_then_append),
}


@dataclass(frozen=True)
class MethodRuns:
    """All repetitions of one method in one scenario."""

    timing: Timing
    cost: WriteCost  # of the last repetition (the same in every repetition)
    rows_after: int
    memory: PeakMemory | None = None  # the largest peak over repetitions, where measured


@dataclass(frozen=True)
class Scenario:
    """One target size and batch size, with each method's runs and our job's own counts."""

    target_rows: int
    fraction: float
    batch_rows: int
    target_files: int
    methods: dict[str, MethodRuns]
    merge_counts: dict[str, int]
    expected_counts: dict[str, int]

    def seconds(self, method: str) -> float:
        return self.methods[method].timing.median


def _rows(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1_000}k" if n >= 1_000 and n % 1_000 == 0 else f"{n:,}"


class MergeSection:
    name = "merge"
    title = "Merge: our merge job against a full rewrite and the notebook pattern"

    def run(self, ctx: BenchContext) -> SectionResult:
        spark, cfg = ctx.spark, ctx.config
        base = cfg.work_dir / "merge"
        shutil.rmtree(base, ignore_errors=True)
        sizes = sorted({rows for rows, _ in cfg.merge_scenarios})
        scenarios: list[Scenario] = []
        profile: list[Execution] = []
        for target_rows in sizes:
            args = datagen.job_args(base / f"t{target_rows}")
            ctx.log(f"merge: writing a {target_rows:,}-row target")
            datagen.write_target(spark, args.target, target_rows, cfg.target_rows_per_file)
            version = metrics.current_version(spark, args.target)
            restore = f"RESTORE TABLE {args.target.sql_name} TO VERSION AS OF {version}"  # after every run
            if target_rows == sizes[0] and cfg.warm_up:  # untimed: JIT and Delta's first-use costs
                rows = max(10, target_rows // 1000)
                datagen.stage_batch(spark, args, target_rows=target_rows, rows=rows, batch_id="warmup")
                for _, runner in METHODS.values():
                    runner(spark, args, "warmup")
                    spark.sql(restore)
            for fraction in sorted(f for rows, f in cfg.merge_scenarios if rows == target_rows):
                scenario, executions = self._scenario(ctx, args, restore, target_rows, fraction)
                scenarios.append(scenario)
                if target_rows == sizes[-1] and not profile:  # the largest target, the smallest batch
                    profile = executions
            shutil.rmtree(base / f"t{target_rows}", ignore_errors=True)
        return self._result(scenarios, profile, cfg.repeats)

    def _scenario(
        self, ctx: BenchContext, args: JobArgs, restore: str, target_rows: int, fraction: float
    ) -> tuple[Scenario, list[Execution]]:
        spark, cfg = ctx.spark, ctx.config
        rows = max(20, round(target_rows * fraction))
        measure_memory = target_rows == max(n for n, _ in cfg.merge_scenarios)  # our job, largest target
        methods = list(METHODS)
        seconds: dict[str, list[float]] = {m: [] for m in methods}
        costs: dict[str, WriteCost] = {}
        after: dict[str, int] = {}
        peaks: list[PeakMemory] = []
        counts: dict[str, int] = {}
        executions: list[Execution] = []
        for rep in range(cfg.repeats):
            batch_id = f"bench_t{target_rows}_f{round(fraction * 1000)}_r{rep}"
            datagen.stage_batch(spark, args, target_rows=target_rows, rows=rows, batch_id=batch_id)
            for method in methods[rep % 3 :] + methods[: rep % 3]:  # rotate: fair to warm caches
                action = partial(METHODS[method][1], spark, args, batch_id)
                mark, before = metrics.last_execution_id(spark), metrics.current_version(spark, args.target)
                if method == OURS and measure_memory:
                    peak, (took, result) = metrics.measure_peak(spark, partial(timed, action))
                    peaks.append(peak)
                else:
                    took, result = timed(action)
                if method == OURS:
                    counts = dict(result or {})
                    executions = metrics.executions_after(spark, mark)
                seconds[method].append(took)
                if rep == cfg.repeats - 1:  # what a method writes is the same every repetition
                    costs[method] = metrics.write_cost(spark, args.target, before)
                    after[method] = args.target.read(spark).count()
                spark.sql(restore)
                ctx.log(
                    f"merge: {target_rows:,} rows, batch {rows:,} ({fraction:.0%}), {method} "
                    f"rep {rep + 1}/{cfg.repeats}: {fmt_seconds(took)}"
                )
        highest = max(peaks, key=lambda p: p.rss_peak_mib) if peaks else None
        runs = {
            m: MethodRuns(timing(seconds[m]), costs[m], after[m], highest if m == OURS else None)
            for m in methods
        }
        files = int(spark.sql(f"DESCRIBE DETAIL {args.target.sql_name}").collect()[0]["numFiles"])
        shape = datagen.batch_shape(rows)
        return Scenario(target_rows, fraction, rows, files, runs, counts, shape), executions

    def _result(self, scenarios: list[Scenario], profile: list[Execution], repeats: int) -> SectionResult:
        out = SectionResult(self.name, self.title)
        for s in scenarios:
            key = f"t{s.target_rows}_b{s.batch_rows}"
            for method, runs in s.methods.items():
                out.add(f"merge_{key}_{method}_seconds", runs.timing.median, "s")
                out.add(f"merge_{key}_{method}_rows_written", runs.cost.rows_written, "rows")
            for other, short in ((REWRITE, "rewrite"), (DELETE_APPEND, "delete_append")):
                out.add(f"merge_{key}_{short}_over_merge", ratio(s.seconds(other), s.seconds(OURS)), "x")
            if memory := s.methods[OURS].memory:
                out.add(f"merge_{key}_driver_rss_peak", memory.rss_peak_mib, "MiB")
                out.add(f"merge_{key}_driver_heap_peak", memory.heap_peak_mib, "MiB")

        sizes = [s.target_rows for s in scenarios]
        largest = max(sizes)
        big = min((s for s in scenarios if s.target_rows == largest), key=lambda s: s.fraction)
        speedup = ratio(big.seconds(REWRITE), big.seconds(OURS))
        out.check(
            f"merge of a {big.fraction:.0%} batch into the {_rows(largest)}-row target "
            f">= {REWRITE_TARGET:g}x faster than the full rewrite",
            f"{speedup:.2f}x ({fmt_seconds(big.seconds(OURS))} vs {fmt_seconds(big.seconds(REWRITE))})",
            speedup >= REWRITE_TARGET,
            f"{REWRITE_TARGET / speedup:.2f}x short",
        )
        scaling: list[str] = []
        smallest = {s.batch_rows: s for s in scenarios if s.target_rows == min(sizes)}
        for large in (s for s in scenarios if s.target_rows == largest and s.batch_rows in smallest):
            small = smallest[large.batch_rows]
            scale = ratio(large.seconds(OURS), small.seconds(OURS))
            out.add(f"merge_scaling_b{large.batch_rows}", scale, "x")
            commands = [s.methods[OURS].cost.merge_execution_ms / 1000 for s in (small, large)]
            scaling.append(
                f"{_rows(large.batch_rows)} | {fmt_seconds(small.seconds(OURS))} "
                f"| {fmt_seconds(large.seconds(OURS))} | {scale:.2f} | {fmt_seconds(commands[0])} to "
                f"{fmt_seconds(commands[1])} "
                f"| {ratio(large.seconds(REWRITE), small.seconds(REWRITE)):.2f}"
            )
            out.check(
                f"merge({_rows(large.target_rows)}) / merge({_rows(small.target_rows)}) "
                f"<= {SCALING_TARGET:g} for the same {_rows(large.batch_rows)}-row batch",
                f"{scale:.2f}",
                scale <= SCALING_TARGET,
                f"{scale / SCALING_TARGET:.2f}x over",
            )
        counts_ok = all(s.merge_counts == s.expected_counts for s in scenarios)
        times = [
            f"{_rows(s.target_rows)} | {_rows(s.batch_rows)} ({s.fraction:.0%}) | {METHODS[m][0]} "
            f"| {r.timing.text()} | {ratio(r.timing.median, s.seconds(OURS)):.2f}x | {r.cost.rows_written:,} "
            f"| {r.cost.rows_copied:,} | {r.cost.files_added} / {r.cost.files_removed} "
            f"| {r.cost.deletion_vectors_added}"
            for s in scenarios
            for m, r in s.methods.items()
        ]
        memory_rows = [
            (_rows(s.target_rows), _rows(s.batch_rows), *(f"{v:,.0f} MiB" for v in asdict(p).values()))
            for s in scenarios
            if (p := s.methods[OURS].memory)
        ]
        cost, job = big.methods[OURS].cost, big.methods[OURS].timing.runs[-1]
        out.markdown = "\n\n".join(
            [
                f"{repeats} repetitions per method in rotating order, the target restored after each run. "
                "Our job's insert / update / stale / superseded counts "
                f"{'match' if counts_ok else 'DO NOT match'} the generated batches.",
                table(
                    "target rows | batch rows | method | seconds, median (min-max) | time / our merge "
                    "| rows written | rows copied unchanged | files added / removed | deletion vectors",
                    times,
                ),
                "Scaling of the same batch, smallest vs largest target:",
                table(
                    "batch rows | merge, small | merge, large | ratio | Delta MERGE command "
                    "| full rewrite ratio",
                    scaling,
                ),
                "Peak memory of the Spark driver during our merge job into the largest target:",
                table("target rows | batch rows | resident set peak | heap peak | heap max", memory_rows),
                f"Profile of our merge job, {_rows(big.target_rows)}-row target, {_rows(big.batch_rows)}-row "
                f"batch, last repetition ({fmt_seconds(job)}): Delta's MERGE command "
                f"{cost.merge_execution_ms / 1000:.1f} s (scan {cost.merge_scan_ms / 1000:.1f} s, rewrite "
                f"{cost.merge_rewrite_ms / 1000:.1f} s), the rest of the job "
                f"{fmt_seconds(max(job - cost.merge_execution_ms / 1000, 0.0))}; of the target's "
                f"{big.target_files} files it marked rows in {cost.deletion_vectors_added} with deletion "
                f"vectors, removed {cost.files_removed} and wrote {cost.files_added}.",
                table(
                    "SQL execution | seconds | joins | scans",
                    [
                        (e.description, f"{e.seconds:.2f}", ", ".join(e.joins) or "-", e.scans)
                        for e in profile[:8]
                    ],
                ),
            ]
        )
        out.raw = {"scenarios": scenarios, "profile": profile, "counts_match": counts_ok}
        return out

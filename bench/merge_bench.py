"""Section 2, merge: our merge job against a full rewrite and the delete-then-append notebook pattern.

For each target size and batch fraction, every repetition stages a fresh batch (same rows, new
batch id: our job refuses to merge a batch id twice) and runs the three methods in rotating order,
restoring the target to its starting version (``RESTORE TABLE ... TO VERSION AS OF``) after each,
so every run starts from the same table. Rows rewritten come from Delta's operation metrics.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from pyspark.sql import SparkSession

from bench import baselines, datagen
from bench.delta_metrics import (
    Layout,
    WriteCost,
    commits_since,
    current_version,
    layout,
    restore,
    write_cost,
)
from bench.jobs import job_args, merge_manifest
from bench.memory import PeakMemory, measure_peak
from bench.merge_report import render
from bench.registry import BenchContext, SectionResult
from bench.sql_profile import Execution, executions_after, last_execution_id
from bench.timing import Timing, fmt_seconds, timed, timing
from spark_tasks import merge
from spark_tasks.cli import JobArgs

OURS, REWRITE, DELETE_APPEND = "merge", "full_rewrite", "delete_append"
METHODS = (OURS, REWRITE, DELETE_APPEND)
LABELS = {
    OURS: "our merge job",
    REWRITE: "full rewrite (union, latest per key, overwrite)",
    DELETE_APPEND: "notebook: delete matched keys, append",
}


@dataclass(frozen=True)
class MethodRuns:
    """All repetitions of one method in one scenario."""

    method: str
    timing: Timing
    cost: WriteCost  # of the last repetition (the same in every repetition)
    rows_after: int
    memory: PeakMemory | None = None  # the largest peak over repetitions, where measured

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "timing": self.timing.to_dict(),
            "cost": self.cost.to_dict(),
            "rows_after": self.rows_after,
            "memory": self.memory.to_dict() if self.memory else None,
        }


@dataclass(frozen=True)
class Scenario:
    """One target size and batch size, with each method's runs and our job's own counts."""

    target_rows: int
    fraction: float
    batch_rows: int
    layout: Layout
    methods: dict[str, MethodRuns]
    merge_counts: dict[str, int]
    expected_counts: dict[str, int]

    @property
    def counts_match(self) -> bool:
        return self.merge_counts == self.expected_counts

    def seconds(self, method: str) -> float:
        return self.methods[method].timing.median

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_rows": self.target_rows,
            "fraction": self.fraction,
            "batch_rows": self.batch_rows,
            "layout": asdict(self.layout),
            "methods": {k: v.to_dict() for k, v in self.methods.items()},
            "merge_counts": self.merge_counts,
            "expected_counts": self.expected_counts,
            "counts_match": self.counts_match,
        }


@dataclass(frozen=True)
class Profile:
    """Where our merge job's time goes, for the largest target and the smallest batch."""

    target_rows: int
    batch_rows: int
    job_seconds: float
    executions: list[Execution]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"executions": [e.to_dict() for e in self.executions]}


def _run_ours(spark: SparkSession, args: JobArgs, batch_id: str) -> dict[str, int]:
    result = merge.run_merge(spark, merge_manifest(batch_id, datagen.BATCH_INGESTED_AT), args)
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "stale_skipped": result.stale_skipped,
        "superseded_in_batch": result.superseded_in_batch,
    }


def _runner(method: str) -> Callable[[SparkSession, JobArgs, str], object]:
    return {OURS: _run_ours, REWRITE: baselines.full_rewrite, DELETE_APPEND: baselines.delete_then_append}[
        method
    ]


def _expected(shape: datagen.BatchShape) -> dict[str, int]:
    return {
        "inserted": shape.new_keys,
        "updated": shape.updates,
        "stale_skipped": shape.stale,
        "superseded_in_batch": shape.superseded,
    }


class MergeSection:
    name = "merge"
    title = "Merge: our merge job against a full rewrite and the notebook pattern"

    def run(self, ctx: BenchContext) -> SectionResult:
        spark, cfg = ctx.spark, ctx.config
        base = cfg.work_dir / "merge"
        shutil.rmtree(base, ignore_errors=True)
        sizes = sorted({rows for rows, _ in cfg.merge_scenarios})
        largest = sizes[-1]
        smallest_fraction = min(f for rows, f in cfg.merge_scenarios if rows == largest)
        scenarios: list[Scenario] = []
        profile: Profile | None = None
        for target_rows in sizes:
            args = job_args(base / f"t{target_rows}")
            ctx.log(f"merge: writing a {target_rows:,}-row target")
            v0 = datagen.write_target(spark, args.target, target_rows, cfg.target_rows_per_file)
            table_layout = layout(spark, args.target)
            if target_rows == sizes[0] and cfg.warm_up:
                self._warm_up(spark, args, target_rows, v0)
            for fraction in sorted(f for rows, f in cfg.merge_scenarios if rows == target_rows):
                measure_memory = target_rows == largest
                scenario, executions = self._scenario(
                    ctx=ctx,
                    args=args,
                    v0=v0,
                    table_layout=table_layout,
                    target_rows=target_rows,
                    fraction=fraction,
                    measure_memory=measure_memory,
                )
                scenarios.append(scenario)
                if target_rows == largest and fraction == smallest_fraction:
                    profile = self._profile(scenario, executions)
            shutil.rmtree(base / f"t{target_rows}", ignore_errors=True)
        assert profile is not None
        return render(self.name, self.title, scenarios, profile, cfg.repeats)

    def _warm_up(self, spark: SparkSession, args: JobArgs, target_rows: int, v0: int) -> None:
        """One untimed pass of each method: JIT and Delta's first-use costs are not the first figure's."""
        rows = max(10, target_rows // 1000)
        datagen.stage_batch(spark, args, target_rows=target_rows, rows=rows, batch_id="warmup")
        for method in METHODS:
            _runner(method)(spark, args, "warmup")
            restore(spark, args.target, v0)

    def _scenario(
        self,
        *,
        ctx: BenchContext,
        args: JobArgs,
        v0: int,
        table_layout: Layout,
        target_rows: int,
        fraction: float,
        measure_memory: bool,
    ) -> tuple[Scenario, list[Execution]]:
        spark, cfg = ctx.spark, ctx.config
        rows = max(20, round(target_rows * fraction))
        seconds: dict[str, list[float]] = {m: [] for m in METHODS}
        costs: dict[str, WriteCost] = {}
        after: dict[str, int] = {}
        peaks: list[PeakMemory] = []
        counts: dict[str, int] = {}
        executions: list[Execution] = []
        for rep in range(cfg.repeats):
            batch_id = f"bench_t{target_rows}_f{round(fraction * 1000)}_r{rep}"
            datagen.stage_batch(spark, args, target_rows=target_rows, rows=rows, batch_id=batch_id)
            for method in METHODS[rep % 3 :] + METHODS[: rep % 3]:  # rotate: fair to warm caches
                action = partial(_runner(method), spark, args, batch_id)
                mark, before = last_execution_id(spark), current_version(spark, args.target)
                if method == OURS and measure_memory:
                    peak, (took, result) = measure_peak(spark, partial(timed, action))
                    peaks.append(peak)
                else:
                    took, result = timed(action)
                if method == OURS:
                    counts = dict(result)  # type: ignore[call-overload]
                    executions = executions_after(spark, mark)
                seconds[method].append(took)
                if rep == cfg.repeats - 1:  # what a method writes is the same every repetition
                    costs[method] = write_cost(commits_since(spark, args.target, before))
                    after[method] = args.target.read(spark).count()
                restore(spark, args.target, v0)
                ctx.log(
                    f"merge: {target_rows:,} rows, batch {rows:,} ({fraction:.0%}), {method} "
                    f"rep {rep + 1}/{cfg.repeats}: {fmt_seconds(took)}"
                )
        methods = {
            m: MethodRuns(
                m,
                timing(seconds[m]),
                costs[m],
                after[m],
                max(peaks, key=lambda p: p.rss_peak_mib) if m == OURS and peaks else None,
            )
            for m in METHODS
        }
        expected = _expected(datagen.batch_shape(rows))
        return Scenario(target_rows, fraction, rows, table_layout, methods, counts, expected), executions

    @staticmethod
    def _profile(scenario: Scenario, executions: list[Execution]) -> Profile:
        """Our job's SQL executions in its last repetition on the largest target."""
        return Profile(
            scenario.target_rows, scenario.batch_rows, scenario.methods[OURS].timing.runs[-1], executions
        )

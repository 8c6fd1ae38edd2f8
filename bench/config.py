"""How big a benchmark run is: one place that turns ``--scale`` / ``--smoke`` into row counts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path


@dataclass(frozen=True)
class BenchConfig:
    """Row counts, repetitions and where data and results go; the defaults are full scale."""

    work_dir: Path
    out_dir: Path
    scale: float = 1.0
    smoke: bool = False
    repeats: int = 3
    parse_runs: int = 5
    stage_rows: int = 2_000_000
    stage_objects: int = 200  # 10,000 rows each: "many objects", under the DAG's 500 cap
    merge_scenarios: tuple[tuple[int, float], ...] = tuple(product((1_000_000, 10_000_000), (0.01, 0.10)))
    target_rows_per_file: int = 250_000  # about 10 MiB Parquet files: 4 for 1M rows, 40 for 10M
    warm_up: bool = True
    bad_share: float = 0.03  # a few percent of the feed breaks a contract rule
    seed: int = 20261126
    # End-to-end sections (latency, orchestration): they do not depend on --scale.
    latency_rows: int = 1_000  # issue #4: a 1,000-row object, upload to visible
    latency_uploads: int = 3
    latency_pause_seconds: float = 60.0  # the local schedule (every minute): uploads land at random points

    @classmethod
    def build(
        cls, work_dir: Path, out_dir: Path, scale: float = 1, smoke: bool = False, repeats: int | None = None
    ) -> BenchConfig:
        """Full scale times ``scale``; ``smoke`` is a tiny run (seconds) that proves the harness works."""
        full = cls(work_dir, out_dir, scale)
        if smoke:  # one 10% batch into the smaller target, the same batch rows (1%) into the larger one
            return replace(
                full,
                smoke=True,
                repeats=repeats or 1,
                parse_runs=1,
                stage_rows=2_000,
                stage_objects=2,
                merge_scenarios=((2_000, 0.10), (20_000, 0.01)),
                target_rows_per_file=5_000,
                warm_up=False,
                latency_rows=100,
                latency_uploads=1,
            )
        if scale <= 0:
            raise ValueError("--scale must be positive")
        stage_rows = max(1_000, round(full.stage_rows * scale))
        return replace(
            full,
            repeats=max(3, repeats or 3),
            parse_runs=max(3, repeats or 5),
            stage_rows=stage_rows,
            stage_objects=max(2, min(200, stage_rows // 10_000)),
            merge_scenarios=tuple((max(1_000, round(n * scale)), f) for n, f in full.merge_scenarios),
            target_rows_per_file=max(1_000, round(full.target_rows_per_file * min(1.0, scale * 10))),
            latency_uploads=max(3, repeats or 3),
        )

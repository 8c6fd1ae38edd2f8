"""How big a benchmark run is: one place that turns ``--scale`` / ``--smoke`` into row counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FULL_STAGE_ROWS = 2_000_000
ROWS_PER_OBJECT = 10_000  # 200 objects at full scale: "many objects", under the DAG's 500 cap
FULL_TARGET_ROWS = (1_000_000, 10_000_000)
BATCH_FRACTIONS = (0.01, 0.10)
BAD_SHARE = 0.03  # a few percent of the feed breaks a contract rule
TARGET_ROWS_PER_FILE = 250_000  # about 10 MiB Parquet files: 4 for 1M rows, 40 for 10M
SEED = 20261126
LATENCY_ROWS = 1_000  # issue #4: a 1,000-row object, upload to visible
LOCAL_SCHEDULE_SECONDS = (
    60.0  # the local stack's schedule (every minute): uploads land at random points of it
)


@dataclass(frozen=True)
class BenchConfig:
    """Row counts, repetitions and where data and results go."""

    scale: float
    smoke: bool
    repeats: int
    parse_runs: int
    stage_rows: int
    stage_objects: int
    merge_scenarios: tuple[tuple[int, float], ...]  # (target rows, batch fraction)
    target_rows_per_file: int
    work_dir: Path
    out_dir: Path
    warm_up: bool = True
    bad_share: float = BAD_SHARE
    seed: int = SEED
    # End-to-end sections (latency, orchestration): they do not depend on --scale.
    latency_rows: int = LATENCY_ROWS
    latency_uploads: int = 3
    latency_pause_seconds: float = LOCAL_SCHEDULE_SECONDS

    @classmethod
    def build(
        cls,
        work_dir: Path,
        out_dir: Path,
        scale: float = 1.0,
        smoke: bool = False,
        repeats: int | None = None,
    ) -> BenchConfig:
        """Full scale times ``scale``; ``smoke`` is a tiny run (seconds) that proves the harness works."""
        if smoke:
            return cls(
                scale=scale,
                smoke=True,
                repeats=repeats or 1,
                parse_runs=1,
                stage_rows=2_000,
                stage_objects=2,
                # One 1% batch into the larger target, and the same batch rows into the smaller one.
                merge_scenarios=((2_000, 0.10), (20_000, 0.01)),
                target_rows_per_file=5_000,
                work_dir=work_dir,
                out_dir=out_dir,
                warm_up=False,
                latency_rows=100,
                latency_uploads=1,
                latency_pause_seconds=0.0,
            )
        if scale <= 0:
            raise ValueError("--scale must be positive")
        stage_rows = max(1_000, round(FULL_STAGE_ROWS * scale))
        return cls(
            scale=scale,
            smoke=False,
            repeats=max(3, repeats or 3),
            parse_runs=max(3, repeats or 5),
            stage_rows=stage_rows,
            stage_objects=max(2, min(200, stage_rows // ROWS_PER_OBJECT)),
            merge_scenarios=tuple(
                (max(1_000, round(n * scale)), f) for n in FULL_TARGET_ROWS for f in BATCH_FRACTIONS
            ),
            target_rows_per_file=max(1_000, round(TARGET_ROWS_PER_FILE * min(1.0, scale * 10))),
            work_dir=work_dir,
            out_dir=out_dir,
            latency_uploads=max(3, repeats or 3),
        )

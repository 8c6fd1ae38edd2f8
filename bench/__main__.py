"""``python -m bench`` / ``make bench``: build the benchmark's SparkSession and run the harness."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from functools import partial
from pathlib import Path

from bench.config import BenchConfig
from bench.harness import run_bench
from bench.live_stack import STACK_SECTIONS, local_stack
from bench.registry import sections
from local_stack.airflow_env import free_port
from local_stack.gcs_emulator import GcsEmulator
from local_stack.settings import BUCKET
from local_stack.spark import build_local_spark

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every row count (1: full scale)")
    parser.add_argument("--smoke", action="store_true", help="tiny run (seconds): proves the harness works")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions per timing (at least 3)")
    names = [section.name for section in sections()]
    parser.add_argument(
        "--sections", nargs="*", default=[], choices=names, help="run only these; keep the rest in --out-dir"
    )
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs", help="where the page, JSON and PNG go")
    args = parser.parse_args(argv)
    cfg = BenchConfig.build(REPO / ".local" / "bench", args.out_dir, args.scale, args.smoke, args.repeats)

    started = time.perf_counter()
    with contextlib.ExitStack() as resources:
        # The end-to-end sections need the GCS emulator, which must be up before the SparkSession (the
        # GCS connector reads its root URL once); the others read local files.
        emulator = None
        if not args.sections or set(args.sections) & set(STACK_SECTIONS):
            emulator = resources.enter_context(GcsEmulator(free_port(), BUCKET))
        gcs_url = emulator.url if emulator else "http://127.0.0.1:9"
        spark = build_local_spark(gcs_url, cfg.work_dir, app_name="order-tracking-bench")
        resources.callback(spark.stop)
        # Smoke: one triggered run per upload instead of waiting for the schedule.
        stack = partial(local_stack, spark, gcs_url, scheduled=not cfg.smoke) if emulator else None
        run = run_bench(spark, cfg, args.sections, log=lambda line: print(line, flush=True), stack=stack)
    print(f"wrote {run.page}, {run.raw}" + (f", {run.plot}" if run.plot else ""))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())

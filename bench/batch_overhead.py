"""The fixed cost of one small batch: ``stage_load`` and ``merge`` of a 2-row batch, N times, warm.

::

    .venv/bin/python -m bench.batch_overhead [--batches 7] [--warmup 2] [--fresh-tables] [--jobs]
        [--interpreted] [--conf KEY=VALUE ...]

One LocalStack (GCS emulator + the SparkSession ``local_stack.spark`` builds, as the tests and
``make run`` use it), batches put in the emulator the way ``cut_batch`` claims them, then each job's
``main`` run under its own Spark job group. Per step it prints the median wall time and the Spark
jobs and stages the step started (job counts do not depend on the machine's load; times do: this
machine is shared, so take the medians of several batches). ``--jobs`` lists each job's
description once, to see where they come from. ``--fresh-tables`` gives every batch new tables (as
most tests do), otherwise the batches share them (as production does). The JVM and shuffle settings
come from the environment as in ``local_stack.spark`` (the tests set ``SPARK_DRIVER_JAVA_OPTIONS``
and ``SPARK_SHUFFLE_PARTITIONS``). ``--interpreted`` runs the tests' session settings
(``local_stack.spark.INTERPRETED``); ``--conf`` tries any other session setting. To see where the
JVM's time goes, add ``-XX:StartFlightRecording=filename=/tmp/b.jfr,settings=profile`` to
``SPARK_DRIVER_JAVA_OPTIONS`` and read it with
``jfr print --stack-depth 300 --events jdk.ExecutionSample /tmp/b.jfr``. Not a ``make bench``
section: a developer's tool; production code never imports it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from local_stack.batches import upload_batch
from local_stack.gcs_emulator import emulator_client
from local_stack.local_stack import BUCKET, LocalStack
from local_stack.spark import INTERPRETED, build_local_spark

REPO = Path(__file__).resolve().parent.parent
HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"


@dataclass(frozen=True)
class StepRun:
    """One step of one batch: wall seconds, Spark jobs and stages, and the jobs' descriptions."""

    seconds: float
    jobs: int
    stages: int
    descriptions: tuple[str, ...]


def run_step(spark: Any, group: str, step: Callable[[], None]) -> StepRun:
    """Run ``step`` under the Spark job group ``group`` and count what it started."""
    sc = spark.sparkContext
    sc.setJobGroup(group, "")
    started = time.perf_counter()
    try:
        step()
    finally:
        seconds = time.perf_counter() - started
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    tracker = sc.statusTracker()
    job_ids = sorted(tracker.getJobIdsForGroup(group))
    infos = [tracker.getJobInfo(job_id) for job_id in job_ids]
    stages = sum(len(info.stageIds) for info in infos if info is not None)
    return StepRun(seconds, len(job_ids), stages, _job_names(spark, job_ids))


def _job_names(spark: Any, job_ids: list[int]) -> tuple[str, ...]:
    """Each job's name (its call site, or Delta's description) from Spark's status store."""
    store = spark.sparkContext._jsc.sc().statusStore()
    names = []
    for job_id in job_ids:
        try:
            data = store.job(job_id)
        except Exception:  # evicted from the store
            names.append("?")
            continue
        description = data.description()
        text = str(description.get()) if description.isDefined() else str(data.name())
        ends = data.completionTime()
        started = data.submissionTime()
        if ends.isDefined() and started.isDefined():
            text = f"{(ends.get().getTime() - started.get().getTime()) / 1000:5.2f} s  {text}"
        names.append(" ".join(text.split())[:150])
    return tuple(names)


def label_jobs_by_caller(spark: Any) -> None:
    """Describe each job by the ``spark_tasks`` line whose call started it (for ``--jobs``).

    Wraps the calls that run Spark jobs (actions, writes, Delta builders, history): each sets the
    job description to ``function:line call`` of the nearest ``spark_tasks`` frame while it runs.
    """
    import inspect

    from delta.tables import DeltaMergeBuilder, DeltaTable, DeltaTableBuilder
    from pyspark.sql import DataFrameWriter
    from pyspark.sql.classic.dataframe import DataFrame

    sc = spark.sparkContext

    def wrap(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def labelled(*args: Any, **kwargs: Any) -> Any:
            caller = next(
                (f for f in inspect.stack()[1:] if "/spark_tasks/" in f.filename), inspect.stack()[1]
            )
            label = f"{Path(caller.filename).stem}.{caller.function}:{caller.lineno} {name}"
            sc.setLocalProperty("spark.job.description", label)
            try:
                return original(*args, **kwargs)
            finally:
                sc.setLocalProperty("spark.job.description", None)

        setattr(owner, name, labelled)

    for owner, names in (
        (DataFrame, ("count", "collect", "first", "take", "localCheckpoint", "columns")),
        (DataFrameWriter, ("save", "saveAsTable")),
        (DeltaMergeBuilder, ("execute",)),
        (DeltaTableBuilder, ("execute",)),
        (DeltaTable, ("history", "forPath", "isDeltaTable", "toDF")),
        (type(spark), ("sql",)),
    ):
        for name in names:
            if isinstance(getattr(owner, name), property):
                continue
            wrap(owner, name)


def put_batch(bucket: Any, batch_id: str, number: int) -> str:
    """Upload one 2-row object (keys new to the batch's tables), claimed with its manifest as
    ``cut_batch`` does (``local_stack.batches.upload_batch``); return the manifest's URI."""
    body = HEADER + "".join(
        f"B{number}K{row},O{number},UPS,IN_TRANSIT,2026-11-26T12:0{row}:00Z,Lyon,\n" for row in range(2)
    )
    return upload_batch(bucket, batch_id, {f"{batch_id}.csv": body}, datetime.now(UTC))


def measure(
    spark: Any, bucket: Any, root: Path, batches: int, fresh_tables: bool
) -> dict[str, list[StepRun]]:
    """Stage and merge ``batches`` batches; the runs of each step, in order."""
    from spark_tasks import merge, stage_load

    runs: dict[str, list[StepRun]] = {"stage_load": [], "merge": []}
    stamp = datetime.now(UTC).strftime("%H%M%S")
    for number in range(batches):
        batch_id = f"overhead_{stamp}_{number}"
        tables = root / (batch_id if fresh_tables else "shared")
        args = ["--manifest", put_batch(bucket, batch_id, number), "--tables-root", str(tables)]
        for name, job in (("stage_load", stage_load.main), ("merge", merge.main)):
            runs[name].append(run_step(spark, f"{batch_id}:{name}", partial(job, args)))
    return runs


def report(runs: dict[str, list[StepRun]], warmup: int, show_jobs: bool) -> None:
    """Median seconds (and each batch's), jobs and stages per step, over the batches after ``warmup``."""
    for name, steps in runs.items():
        kept = steps[warmup:]
        seconds = [round(s.seconds, 2) for s in kept]
        jobs = sorted({s.jobs for s in kept})
        stages = sorted({s.stages for s in kept})
        print(
            f"{name:<11} median {statistics.median(seconds):5.2f} s  jobs {jobs}  stages {stages}  "
            f"(each: {seconds}; warm-up: {[round(s.seconds, 2) for s in steps[:warmup]]})",
            flush=True,
        )
        if show_jobs and kept:
            for job_id, description in enumerate(kept[-1].descriptions, start=1):
                print(f"    {job_id:2d}. {description}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_overhead", description=__doc__)
    parser.add_argument("--batches", type=int, default=7, help="batches measured after the warm-up")
    parser.add_argument("--warmup", type=int, default=2, help="batches run first and left out")
    parser.add_argument("--fresh-tables", action="store_true", help="new tables for every batch")
    parser.add_argument("--jobs", action="store_true", help="list the jobs of each step's last batch")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a session setting to try"
    )
    parser.add_argument(
        "--interpreted", action="store_true", help="the test suite's session settings: no generated code"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "plugins"))  # order_tracking (the claims), as Airflow loads it

    with tempfile.TemporaryDirectory(prefix="batch-overhead-") as work:
        root = Path(work)
        extra = INTERPRETED if args.interpreted else None
        factory = lambda url, warehouse: build_local_spark(url, warehouse, "batch-overhead", extra)  # noqa: E731
        with LocalStack(root / "warehouse", spark_factory=factory) as stack:
            spark = stack.spark_session()
            conf = spark.conf
            for setting in args.conf:
                key, _, value = setting.partition("=")
                conf.set(key, value)
            print(
                f"shuffle partitions {conf.get('spark.sql.shuffle.partitions')}, "
                f"AQE {conf.get('spark.sql.adaptive.enabled')}, "
                f"codegen factory {conf.get('spark.sql.codegen.factoryMode')}, "
                f"SPARK_DRIVER_JAVA_OPTIONS '{os.environ.get('SPARK_DRIVER_JAVA_OPTIONS', '')}'",
                flush=True,
            )
            bucket = emulator_client(stack.gcs_url).bucket(BUCKET)
            if args.jobs:
                label_jobs_by_caller(spark)
            runs = measure(spark, bucket, root / "tables", args.warmup + args.batches, args.fresh_tables)
            report(runs, args.warmup, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

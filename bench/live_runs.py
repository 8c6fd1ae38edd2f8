"""Uploads measured end to end on a running local stack, shared by sections 4 and 5: upload to the
first target commit holding every key, then the run's tasks, Spark runs and runner counters.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.config import BenchConfig
from bench.live_stack import LiveStack
from bench.section import BenchContext
from local_stack.samples import STATUS_FLOW, sample_objects

STAGING = "staging_zn/"
OBJECT_PREFIX = "bench_latency_"  # every benchmark object's name starts so (below the staging prefix)
TARGET_TABLE = "target_zn_new"
ENTRY_POINTS = ("stage_load", "merge")  # the wheel's entry points the DAG submits
VISIBLE_TIMEOUT = 600.0  # seconds from upload; a healthy local run takes well under two minutes
RUN_END_TIMEOUT = 300.0


def _epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


@dataclass(frozen=True)
class TaskSpan:
    """One task instance of the run, times as epoch seconds (REST API ``taskInstances``)."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    start: float | None
    end: float | None


@dataclass(frozen=True)
class SparkSpan:
    """One Databricks run on the local runner: when its Spark work started and ended (epoch s)."""

    entry_point: str
    run_id: int
    start: float
    end: float


def _snapshot(stack: LiveStack) -> dict[str, Any]:
    """The runner's counters and run ids now: deltas between two give one DAG run's cost."""
    run_ids = {ep: {r["run_id"] for r in stack.runner.runs_of(ep)} for ep in ENTRY_POINTS}
    return dict(stack.runner.stats()) | {"run_ids": run_ids}


def _calls(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    """Calls per endpoint from ``before`` to ``after`` (the counters only grow)."""
    return dict(sorted((Counter(after["api_calls"]) - Counter(before["api_calls"])).items()))


@dataclass(frozen=True)
class Upload:
    """One measured upload: the object, when it became visible, and the run that loaded it."""

    index: int
    object_name: str
    expected_keys: int
    pause_seconds: float
    load_average: float  # 1-minute load average when the object was uploaded
    uploaded_at: float
    visible_at: float
    target_version: int
    run_id: str
    run_end: float | None
    tasks: tuple[TaskSpan, ...]
    spark: tuple[SparkSpan, ...]
    cluster_starts: int  # during the run
    api_calls: dict[str, int]  # during the run, per endpoint
    idle_api_calls: dict[str, int]  # from the previous run's end to this upload (runs that found nothing)
    clusters_running_after: int

    @property
    def latency(self) -> float:
        return self.visible_at - self.uploaded_at

    def task(self, task_id: str) -> TaskSpan:
        for span in self.tasks:
            if span.task_id == task_id and span.map_index < 0:
                return span
        raise KeyError(f"run {self.run_id} has no task {task_id}")

    def job(self, entry_point: str) -> SparkSpan:
        for span in self.spark:
            if span.entry_point == entry_point:
                return span
        raise KeyError(f"run {self.run_id} submitted no {entry_point} job")


def _cpu_clock() -> tuple[float, float, float]:
    """Now: wall seconds, the busy CPU seconds of all cores since boot (idle and iowait left out), and
    those of this process and its descendants (Airflow, tasks) with their waited-for children."""
    t, me, ours = psutil.cpu_times(), psutil.Process(), 0.0
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # ended meanwhile
            c = proc.cpu_times()
            ours += c.user + c.system + c.children_user + c.children_system
    return time.monotonic(), t.user + t.nice + t.system + t.irq + t.softirq + t.steal, ours


@dataclass(frozen=True)
class CpuUse:
    """CPU time over the uploads: the whole machine's, and this benchmark's processes' share of it."""

    cores: int
    wall_seconds: float  # this and the next two: differences of _cpu_clock(), in its order
    machine_cpu_seconds: float
    bench_cpu_seconds: float

    @staticmethod
    def meter() -> Callable[[], CpuUse]:
        """Started now; call the result to read the use since."""
        start, cores = _cpu_clock(), os.cpu_count() or 1
        return lambda: CpuUse(cores, *(now - then for now, then in zip(_cpu_clock(), start, strict=True)))


@dataclass(frozen=True)
class LiveRuns:
    """All uploads of one measurement, with the settings and conditions they were measured under."""

    uploads: tuple[Upload, ...]  # measured (the warm-up excluded)
    warm_up: Upload | None
    scheduled: bool
    rows_per_object: int
    settings: dict[str, str]
    stack_started_in_seconds: float | None
    cpu: CpuUse  # over the measured uploads


def contract_object(rows: int, seed: int, key_prefix: str) -> tuple[bytes, int, set[str]]:
    """A ``samples`` object of ``rows`` records with its keys prefixed; also the keys that will load."""
    data = next(iter(sample_objects(objects=1, rows_per_object=rows, parcels=rows, seed=seed).values()))
    data = data.replace(b"\n1Z", b"\n" + key_prefix.encode() + b"1Z")  # each record starts with its key
    records = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    loaded = {r["tracking_num"] for r in records if r["status"] in STATUS_FLOW}  # only status is ever broken
    return data, len(records), loaded


def _commits(table: Path) -> dict[int, Path]:
    """The table's commit files by version (none before the table exists)."""
    return {int(p.stem): p for p in (table / "_delta_log").glob("[0-9]" * 20 + ".json")}


def _runs(stack: LiveStack, limit: int) -> list[dict[str, Any]]:
    """The DAG's latest runs, newest first (a DAG id needs no quoting in a path)."""
    path = f"dags/{stack.dag_id}/dagRuns"
    return list(stack.api.request("GET", path, params={"order_by": "-id", "limit": limit}).json()["dag_runs"])


def _evidence(stack: LiveStack) -> str:
    latest = next(iter(_runs(stack, 1)), None)
    if latest is None:
        return "no DAG run at all"
    run_id = latest["dag_run_id"]
    return f"latest run {run_id} ({latest['state']}):\n" + stack.api.describe_run(stack.dag_id, run_id)


def wait_visible(
    spark: SparkSession, stack: LiveStack, table: Path, prefix: str, *, count: int, after: int, since: float
) -> tuple[int, float, str]:
    """The first target version after ``after`` holding ``count`` keys starting with ``prefix``: (version,
    ctime, batch id). A run failing after ``since`` (the upload, epoch s) ends the wait, with its evidence.
    """
    checked, next_look, deadline = after, 0.0, time.monotonic() + VISIBLE_TIMEOUT
    while time.monotonic() < deadline:
        for version, path in sorted(_commits(table).items()):
            if version <= checked:
                continue
            checked = version
            frame = spark.read.format("delta").option("versionAsOf", version).load(str(table))
            ours = frame.where(F.col("tracking_num").startswith(prefix)).groupBy("batch_id").count()
            found = {str(row["batch_id"]): int(row["count"]) for row in ours.collect()}
            if sum(found.values()) >= count:
                if len(found) != 1 or sum(found.values()) != count:
                    raise RuntimeError(f"version {version}: unexpected rows {found}, expected {count}")
                return version, path.stat().st_ctime, next(iter(found))
        if time.monotonic() >= next_look:  # a failed run would otherwise only show as a timeout
            stack.check_running()
            latest = next(iter(_runs(stack, 1)), {})
            if latest.get("state") == "failed" and (_epoch(latest.get("end_date")) or 0) >= since:
                raise RuntimeError(f"a DAG run failed before the rows were visible\n{_evidence(stack)}")
            next_look = time.monotonic() + 5
        time.sleep(0.2)
    raise RuntimeError(f"rows with keys {prefix}* not visible in time\n{_evidence(stack)}")


def find_run(stack: LiveStack, batch_id: str) -> str:
    """The DAG run whose ``cut_batch`` cut ``batch_id`` (its XCom), among the latest runs."""
    for run in _runs(stack, 10):
        value = stack.api.xcom(stack.dag_id, run["dag_run_id"], "cut_batch", "return_value")
        if isinstance(value, dict) and value.get("batch_id") == batch_id:
            return str(run["dag_run_id"])
    raise RuntimeError(f"no recent DAG run cut batch {batch_id}\n{_evidence(stack)}")


def measure_upload(
    spark: SparkSession,
    stack: LiveStack,
    cfg: BenchConfig,
    *,
    index: int,
    token: str,
    pause: float,
    idle_since: dict[str, Any],
) -> Upload:
    """Upload one object, time it to visible, then collect its run's tasks, Spark runs and calls."""
    table = stack.tables_root / stack.env.get("ORDER_TRACKING_TARGET_TABLE", TARGET_TABLE)
    key_prefix = f"B{token}{index:02d}-"
    data, _, keys = contract_object(cfg.latency_rows, cfg.seed + index, key_prefix)
    name = f"{STAGING}{OBJECT_PREFIX}{token.lower()}_{index:02d}.csv"
    before, load = _snapshot(stack), os.getloadavg()[0]
    after_version = max(_commits(table), default=-1)
    stack.bucket.blob(name).upload_from_string(data, content_type="text/csv")
    uploaded_at = time.time()
    if not stack.scheduled:
        stack.api.trigger(stack.dag_id)
    version, visible_at, batch_id = wait_visible(
        spark, stack, table, key_prefix, count=len(keys), after=after_version, since=uploaded_at
    )
    run_id = find_run(stack, batch_id)  # a triggered run is not always the one that loads the object
    stack.api.wait_for_run(stack.dag_id, run_id, timeout=RUN_END_TIMEOUT, expect="success")
    after, run = _snapshot(stack), stack.api.run(stack.dag_id, run_id)
    spans = []
    for ep in ENTRY_POINTS:
        for rid in sorted(after["run_ids"][ep] - before["run_ids"][ep]):
            task = stack.runner.get(rid)["tasks"][0]
            spans.append(SparkSpan(ep, rid, task["start_time"] / 1000, task["end_time"] / 1000))
    tasks = [
        TaskSpan(
            str(ti["task_id"]),
            int(ti.get("map_index", -1)),
            ti.get("state"),
            int(ti.get("try_number") or 0),
            _epoch(ti.get("start_date")),
            _epoch(ti.get("end_date")),
        )
        for ti in stack.api.task_instances(stack.dag_id, run_id)
    ]
    return Upload(
        index=index,
        object_name=name,
        expected_keys=len(keys),
        pause_seconds=pause,
        load_average=load,
        uploaded_at=uploaded_at,
        visible_at=visible_at,
        target_version=version,
        run_id=run_id,
        run_end=_epoch(run.get("end_date")),
        tasks=tuple(tasks),
        spark=tuple(sorted(spans, key=lambda s: s.start)),
        cluster_starts=int(after["cluster_starts"] - before["cluster_starts"]),
        api_calls=_calls(after, before),
        idle_api_calls=_calls(before, idle_since),
        clusters_running_after=int(after["clusters_running"]),
    )


def measure(ctx: BenchContext) -> LiveRuns:
    """The uploads of this benchmark run (an untimed warm-up first, unless smoke), one after another;
    measured once per run for the latency and orchestration sections."""
    if isinstance(cached := ctx.shared.get("live_runs"), LiveRuns):
        return cached
    if ctx.stack is None:
        raise RuntimeError(
            "the latency and orchestration sections need the local stack: run them with `python -m bench`"
        )
    cfg, token, rng = ctx.config, uuid.uuid4().hex[:6].upper(), random.Random(ctx.config.seed)
    with ctx.stack() as stack:
        ctx.log(f"live: stack ready in {stack.started_in_seconds or 0:.0f} s; scheduled: {stack.scheduled}")
        idle_since, meter = _snapshot(stack), CpuUse.meter()
        uploads: list[Upload] = []
        for index, warm_up in enumerate([True] * cfg.warm_up + [False] * cfg.latency_uploads):
            pause = rng.uniform(0, cfg.latency_pause_seconds) if stack.scheduled and not warm_up else 0.0
            ctx.log(f"live: pause {pause:.0f} s before upload {index} (a random point of the schedule)")
            end = time.monotonic() + pause
            while (left := end - time.monotonic()) > 0:
                stack.check_running()
                time.sleep(min(1.0, left))
            upload = measure_upload(
                ctx.spark, stack, cfg, index=index, token=token, pause=pause, idle_since=idle_since
            )
            idle_since = _snapshot(stack)
            ctx.log(
                f"live: upload {index}{' (warm-up)' if warm_up else ''}: visible after {upload.latency:.1f} "
                f"s, run {upload.run_id}, {upload.cluster_starts} cluster start(s), "
                f"{sum(upload.api_calls.values())} calls"
            )
            uploads.append(upload)
            if warm_up:
                meter = CpuUse.meter()  # the warm-up's one-off costs are not the machine's load
        runs = LiveRuns(
            uploads=tuple(uploads[cfg.warm_up :]),
            warm_up=uploads[0] if cfg.warm_up else None,
            scheduled=stack.scheduled,
            rows_per_object=cfg.latency_rows,
            settings=stack.settings(),
            stack_started_in_seconds=stack.started_in_seconds,
            cpu=meter(),
        )
    ctx.shared["live_runs"] = runs
    return runs

"""Uploads measured end to end on a running local stack: the measurement sections 4 and 5 share.

Each upload is a fresh contract CSV object from ``local_stack.samples`` (1,000 rows at full
settings, about 2% with a status outside the contract, so the job rejects some), its tracking
numbers prefixed so that no earlier upload has them. The clock starts when the upload call returns
(the object is in the bucket) and stops at the first commit of the target table whose snapshot
holds every expected key: its commit file's ctime is the moment readers could see the rows. The
benchmark finds that commit by watching ``_delta_log`` on disk every 0.2 s and reading each new
version once with Spark, so it adds no Spark work while the pipeline runs. It then names the DAG
run that loaded the object (the ``cut_batch`` XCom whose batch id is on the rows), waits for the
run's end, and keeps the run's task instances (REST API), the runner's Spark runs and the runner's
counters before and after the run (cluster starts and API calls per endpoint).

The next upload waits for that run to end, so runs never overlap; on the schedule it also waits a
seeded random pause of up to one schedule interval, so uploads arrive at random points of the
schedule, as real drops do. An untimed warm-up upload (full settings) first pays the one-off costs:
the JVM's first Delta jobs, the target's creation, the first task processes.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.config import BenchConfig
from bench.live_stack import LiveStack
from bench.registry import BenchContext
from local_stack.procfs import descendants, process_table
from local_stack.samples import STATUS_FLOW, sample_objects

SHARED_KEY = "live_runs"
STAGING = "staging_zn/"
OBJECT_PREFIX = "bench_latency_"  # every benchmark object's name starts so (below the staging prefix)
TARGET_TABLE = "target_zn_new"
ENTRY_POINTS = ("stage_load", "merge")  # the wheel's entry points the DAG submits
VISIBLE_TIMEOUT = 600.0  # seconds from upload; a healthy local run takes well under two minutes
RUN_END_TIMEOUT = 300.0
_COMMIT = re.compile(r"^(\d{20})\.json$")


class LiveMeasurementError(RuntimeError):
    """An upload never became visible or its run failed; the message carries the run's evidence."""


def _epoch(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def _path(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


@dataclass(frozen=True)
class TaskSpan:
    """One task instance of the run, times as epoch seconds (REST API ``taskInstances``)."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    scheduled: float | None
    queued: float | None
    start: float | None
    end: float | None

    @classmethod
    def from_api(cls, ti: dict[str, Any]) -> TaskSpan:
        return cls(
            task_id=str(ti["task_id"]),
            map_index=int(ti.get("map_index", -1)),
            state=ti.get("state"),
            try_number=int(ti.get("try_number") or 0),
            scheduled=_epoch(ti.get("scheduled_when")),
            queued=_epoch(ti.get("queued_when")),
            start=_epoch(ti.get("start_date")),
            end=_epoch(ti.get("end_date")),
        )

    @property
    def seconds(self) -> float | None:
        return self.end - self.start if self.start is not None and self.end is not None else None


@dataclass(frozen=True)
class SparkSpan:
    """One Databricks run on the local runner: submitted, Spark work started and ended (epoch s)."""

    entry_point: str
    run_id: int
    submitted: float
    start: float
    end: float
    result: str


@dataclass(frozen=True)
class RunnerSnapshot:
    """The runner's counters at one moment: deltas between two give one DAG run's cost."""

    cluster_starts: int
    api_calls: dict[str, int]
    run_ids: dict[str, frozenset[int]]  # entry point -> runner run ids
    clusters_running: int

    @classmethod
    def take(cls, stack: LiveStack) -> RunnerSnapshot:
        stats = stack.runner.stats()
        return cls(
            cluster_starts=int(stats["cluster_starts"]),
            api_calls=dict(stats["api_calls"]),
            run_ids={ep: frozenset(r["run_id"] for r in stack.runner.runs_of(ep)) for ep in ENTRY_POINTS},
            clusters_running=int(stats["clusters_running"]),
        )

    def calls_since(self, earlier: RunnerSnapshot) -> dict[str, int]:
        delta = Counter(self.api_calls)
        delta.subtract(earlier.api_calls)
        return {endpoint: n for endpoint, n in sorted(delta.items()) if n}


@dataclass(frozen=True)
class Upload:
    """One measured upload: the object, when it became visible, and the run that loaded it."""

    index: int
    warm_up: bool
    object_name: str
    records: int
    expected_keys: int
    pause_seconds: float
    load_average: float  # 1-minute load average when the object was uploaded
    uploaded_at: float
    visible_at: float
    target_version: int
    run_id: str
    run_type: str
    run_start: float | None
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"latency": self.latency}


@dataclass(frozen=True)
class LiveRuns:
    """All uploads of one measurement, with the settings and conditions they were measured under."""

    uploads: tuple[Upload, ...]  # measured (the warm-up excluded)
    warm_up: Upload | None
    scheduled: bool
    rows_per_object: int
    settings: dict[str, str]
    stack_started_in_seconds: float | None
    load_average_end: float
    cpu: CpuUse  # over the measured uploads (warm-up excluded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uploads": [u.to_dict() for u in self.uploads],
            "warm_up": self.warm_up.to_dict() if self.warm_up else None,
            "scheduled": self.scheduled,
            "rows_per_object": self.rows_per_object,
            "settings": self.settings,
            "stack_started_in_seconds": self.stack_started_in_seconds,
            "load_average_end": self.load_average_end,
            "cpu": self.cpu.to_dict(),
        }


def _machine_busy_ticks() -> int:
    """Busy clock ticks of all cores since boot (``/proc/stat``: everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return sum(values) - values[3] - values[4]


def _tree_ticks(root: int) -> int:
    """CPU ticks of ``root`` and its descendants, with their waited-for children (``/proc/<pid>/stat``).

    A task process that ends inside the window is counted through its parent's children time, so the
    difference of two readings is what the tree used in between (approximately: a process orphaned to
    init takes its time with it).
    """
    table = process_table()
    tree = [table[root], *descendants(table, [root])] if root in table else []
    return sum(stat.cpu_ticks for stat in tree)


@dataclass(frozen=True)
class CpuUse:
    """CPU time over the uploads: the whole machine's, and this benchmark's processes' share of it."""

    wall_seconds: float
    cores: int
    machine_cpu_seconds: float
    bench_cpu_seconds: float  # this process (Spark, runner) and its descendants (Airflow, tasks)

    @property
    def other_cpu_seconds(self) -> float:
        return max(0.0, self.machine_cpu_seconds - self.bench_cpu_seconds)

    @property
    def busy_share(self) -> float:
        return self.machine_cpu_seconds / (self.wall_seconds * self.cores) if self.wall_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"other_cpu_seconds": self.other_cpu_seconds, "busy_share": self.busy_share}


class CpuMeter:
    """Started before the uploads, read after them: who used the cores meanwhile."""

    def __init__(self) -> None:
        self._tick = os.sysconf("SC_CLK_TCK")
        self._start = (time.monotonic(), _machine_busy_ticks(), _tree_ticks(os.getpid()))

    def read(self) -> CpuUse:
        wall, machine, ours = self._start
        return CpuUse(
            wall_seconds=time.monotonic() - wall,
            cores=os.cpu_count() or 1,
            machine_cpu_seconds=(_machine_busy_ticks() - machine) / self._tick,
            bench_cpu_seconds=(_tree_ticks(os.getpid()) - ours) / self._tick,
        )


def contract_object(rows: int, seed: int, key_prefix: str) -> tuple[bytes, int, set[str]]:
    """A ``samples`` object of ``rows`` records with its keys prefixed; also the keys that will load."""
    data = next(iter(sample_objects(objects=1, rows_per_object=rows, parcels=rows, seed=seed).values()))
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    header = next(reader)
    key, status = header.index("tracking_num"), header.index("status")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    loaded: set[str] = set()
    records = 0
    for row in reader:
        row[key] = f"{key_prefix}{row[key]}"
        if row[status] in STATUS_FLOW:  # the only contract break the generator makes is the status
            loaded.add(row[key])
        writer.writerow(row)
        records += 1
    return out.getvalue().encode("utf-8"), records, loaded


def _commits(table: Path) -> dict[int, Path]:
    try:
        names = os.listdir(table / "_delta_log")
    except FileNotFoundError:
        return {}
    return {int(m.group(1)): table / "_delta_log" / n for n in names if (m := _COMMIT.match(n))}


def _keys_at(spark: SparkSession, table: Path, version: int, key_prefix: str) -> dict[str, int]:
    """``{batch_id: rows}`` of our keys in the target's snapshot at ``version``."""
    frame = spark.read.format("delta").option("versionAsOf", version).load(str(table))
    rows = frame.where(F.col("tracking_num").startswith(key_prefix)).groupBy("batch_id").count().collect()
    return {str(row["batch_id"]): int(row["count"]) for row in rows}


def _latest_run(stack: LiveStack) -> dict[str, Any] | None:
    path = _path("dags", stack.dag_id, "dagRuns")
    runs = stack.api.request("GET", path, params={"order_by": "-id", "limit": 1}).json()["dag_runs"]
    return dict(runs[0]) if runs else None


def _evidence(stack: LiveStack) -> str:
    latest = _latest_run(stack)
    if latest is None:
        return "no DAG run at all"
    return f"latest run {latest['dag_run_id']} ({latest['state']}):\n" + stack.api.describe_run(
        stack.dag_id, latest["dag_run_id"]
    )


def wait_visible(
    spark: SparkSession,
    stack: LiveStack,
    table: Path,
    key_prefix: str,
    *,
    expected: int,
    after_version: int,
    since: float,
    deadline: float,
) -> tuple[int, float, str]:
    """The first target version holding all ``expected`` keys: ``(version, commit ctime, batch id)``.

    A run failing after ``since`` (the upload, epoch seconds) ends the wait at once, with its evidence.
    """
    checked = after_version
    next_look = 0.0
    while time.monotonic() < deadline:
        for version, path in sorted(_commits(table).items()):
            if version <= checked:
                continue
            found = _keys_at(spark, table, version, key_prefix)
            checked = version
            if sum(found.values()) >= expected:
                if len(found) != 1 or sum(found.values()) != expected:
                    raise LiveMeasurementError(
                        f"version {version}: unexpected rows {found}, expected {expected}"
                    )
                return version, path.stat().st_ctime, next(iter(found))
        if time.monotonic() >= next_look:  # a failed run would otherwise only show as a timeout
            stack.check_running()
            latest = _latest_run(stack)
            ended = _epoch(latest.get("end_date")) if latest else None
            if latest is not None and latest["state"] == "failed" and (ended or 0) >= since:
                raise LiveMeasurementError(
                    f"a DAG run failed before the rows were visible\n{_evidence(stack)}"
                )
            next_look = time.monotonic() + 5
        time.sleep(0.2)
    raise LiveMeasurementError(f"rows with keys {key_prefix}* not visible in time\n{_evidence(stack)}")


def _cut_batch_id(stack: LiveStack, run_id: str) -> str | None:
    path = _path("dags", stack.dag_id, "dagRuns", run_id, "taskInstances", "cut_batch", "xcomEntries")
    try:
        value = stack.api.request("GET", f"{path}/return_value").json().get("value")
    except httpx.HTTPStatusError as error:
        if error.response.status_code == 404:
            return None
        raise
    return str(value.get("batch_id")) if isinstance(value, dict) else None


def find_run(stack: LiveStack, batch_id: str) -> str:
    """The DAG run whose ``cut_batch`` cut ``batch_id`` (its XCom), among the latest runs."""
    path = _path("dags", stack.dag_id, "dagRuns")
    for run in stack.api.request("GET", path, params={"order_by": "-id", "limit": 10}).json()["dag_runs"]:
        if _cut_batch_id(stack, run["dag_run_id"]) == batch_id:
            return str(run["dag_run_id"])
    raise LiveMeasurementError(f"no recent DAG run cut batch {batch_id}\n{_evidence(stack)}")


def _spark_span(stack: LiveStack, entry_point: str, run_id: int) -> SparkSpan:
    run = stack.runner.get(run_id)
    task = run["tasks"][0]
    return SparkSpan(
        entry_point=entry_point,
        run_id=run_id,
        submitted=run["start_time"] / 1000,
        start=task["start_time"] / 1000,
        end=task["end_time"] / 1000,
        result=str(run["state"].get("result_state")),
    )


def _sleep(seconds: float, stack: LiveStack) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        stack.check_running()
        time.sleep(min(1.0, left))


def measure_upload(
    spark: SparkSession,
    stack: LiveStack,
    cfg: BenchConfig,
    *,
    index: int,
    warm_up: bool,
    token: str,
    pause: float,
    idle_since: RunnerSnapshot,
) -> Upload:
    """Upload one object, time it to visible, then collect its run's tasks, Spark runs and calls."""
    table = stack.tables_root / stack.env.get("ORDER_TRACKING_TARGET_TABLE", TARGET_TABLE)
    key_prefix = f"B{token}{index:02d}-"
    data, records, keys = contract_object(cfg.latency_rows, cfg.seed + index, key_prefix)
    name = f"{STAGING}{OBJECT_PREFIX}{token.lower()}_{index:02d}.csv"
    before = RunnerSnapshot.take(stack)
    after_version = max(_commits(table), default=-1)
    load = os.getloadavg()[0]
    stack.bucket.blob(name).upload_from_string(data, content_type="text/csv")
    uploaded_at = time.time()
    triggered = None if stack.scheduled else stack.api.trigger(stack.dag_id)
    deadline = time.monotonic() + VISIBLE_TIMEOUT
    version, visible_at, batch_id = wait_visible(
        spark,
        stack,
        table,
        key_prefix,
        expected=len(keys),
        after_version=after_version,
        since=uploaded_at,
        deadline=deadline,
    )
    run_id = find_run(stack, batch_id)  # a triggered run is not always the one that loads the object
    stack.api.wait_for_run(stack.dag_id, run_id, timeout=RUN_END_TIMEOUT, expect="success")
    after = RunnerSnapshot.take(stack)
    run = stack.api.run(stack.dag_id, run_id)
    spark_spans = [
        _spark_span(stack, ep, rid)
        for ep in ENTRY_POINTS
        for rid in sorted(after.run_ids[ep] - before.run_ids[ep])
    ]
    return Upload(
        index=index,
        warm_up=warm_up,
        object_name=name,
        records=records,
        expected_keys=len(keys),
        pause_seconds=pause,
        load_average=load,
        uploaded_at=uploaded_at,
        visible_at=visible_at,
        target_version=version,
        run_id=run_id,
        run_type=str(run.get("run_type")) + (" (the triggered run)" if run_id == triggered else ""),
        run_start=_epoch(run.get("start_date")),
        run_end=_epoch(run.get("end_date")),
        tasks=tuple(TaskSpan.from_api(ti) for ti in stack.api.task_instances(stack.dag_id, run_id)),
        spark=tuple(sorted(spark_spans, key=lambda s: s.start)),
        cluster_starts=after.cluster_starts - before.cluster_starts,
        api_calls=after.calls_since(before),
        idle_api_calls=before.calls_since(idle_since),
        clusters_running_after=after.clusters_running,
    )


def run_uploads(
    spark: SparkSession, stack: LiveStack, cfg: BenchConfig, log: Callable[[str], None]
) -> LiveRuns:
    """The warm-up (if configured) and ``cfg.latency_uploads`` measured uploads, one after another."""
    token = uuid.uuid4().hex[:6].upper()
    rng = random.Random(cfg.seed)
    plan = [True] * cfg.warm_up + [False] * cfg.latency_uploads
    idle_since = RunnerSnapshot.take(stack)
    measured: list[Upload] = []
    warm: Upload | None = None
    meter = CpuMeter()
    for index, warm_up in enumerate(plan):
        pause = rng.uniform(0, cfg.latency_pause_seconds) if stack.scheduled and not warm_up else 0.0
        if pause:
            log(f"live: pause {pause:.0f} s before upload {index} (a random point of the schedule)")
        _sleep(pause, stack)
        upload = measure_upload(
            spark, stack, cfg, index=index, warm_up=warm_up, token=token, pause=pause, idle_since=idle_since
        )
        idle_since = RunnerSnapshot.take(stack)
        log(
            f"live: upload {index}{' (warm-up)' if warm_up else ''}: visible after {upload.latency:.1f} s, "
            f"run {upload.run_id} ({upload.cluster_starts} cluster start(s), "
            f"{sum(upload.api_calls.values())} Databricks API calls)"
        )
        if warm_up:
            warm = upload
            meter = CpuMeter()  # the warm-up's one-off costs are not the machine's load
        else:
            measured.append(upload)
    return LiveRuns(
        uploads=tuple(measured),
        warm_up=warm,
        scheduled=stack.scheduled,
        rows_per_object=cfg.latency_rows,
        settings=stack.settings(),
        stack_started_in_seconds=stack.started_in_seconds,
        load_average_end=os.getloadavg()[0],
        cpu=meter.read(),
    )


def measure(ctx: BenchContext) -> LiveRuns:
    """The uploads of this benchmark run: measured once, shared by the latency and orchestration sections."""
    cached = ctx.shared.get(SHARED_KEY)
    if isinstance(cached, LiveRuns):
        return cached
    if ctx.stack is None:
        raise RuntimeError(
            "the latency and orchestration sections need the local stack: run them with `python -m bench` "
            "(or give run_bench a `stack` factory)"
        )
    with ctx.stack() as stack:
        mode = "on the DAG's schedule" if stack.scheduled else "one triggered run per upload"
        ctx.log(f"live: stack ready in {stack.started_in_seconds or 0:.0f} s; uploads {mode}")
        runs = run_uploads(ctx.spark, stack, ctx.config, ctx.log)
    ctx.shared[SHARED_KEY] = runs
    return runs

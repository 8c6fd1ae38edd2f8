"""Section 4, end-to-end latency: upload of an object to its rows visible in the target table, cut
along the run's critical path into segments that add up to it (``docs/benchmarks-notes.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench import live_runs
from bench.live_runs import Upload
from bench.section import BenchContext, SectionResult, Timing, fmt_seconds, median, table, timing

TARGET_SECONDS = 60.0
# The DAG's chain up to the merge commit (dags/order_tracking_incremental_load.py).
PATH = (
    "wait_for_objects",
    "cut_batch",
    "has_csv_objects",
    "start_cluster",
    "stage_load",
    "writes_enabled",
    "merge",
)
CATEGORIES = {
    "pickup": "pick-up: upload until the sensor task is done",
    "scheduling": "task starts: upstream done until the task runs",
    "task": "short Python tasks' own run time",
    "databricks": "Databricks steps: operator running until the Spark job runs",
    "spark": "Spark jobs: stage_load, and merge until its commit",
    "poll": "stage_load: Spark job done until the task is done",
}


@dataclass(frozen=True)
class Segment:
    """One piece of an upload's latency along the critical path."""

    key: str  # "<task>.<kind>"
    seconds: float

    @property
    def category(self) -> str:
        return KINDS[self.key.split(".")[1]][0]


def _span(upload: Upload, task_id: str) -> tuple[float, float]:
    span = upload.task(task_id)
    if span.start is None or span.end is None:
        raise ValueError(f"task {task_id} of run {upload.run_id} has no start or end ({span.state})")
    return span.start, span.end


KINDS = {  # segment kind -> (category, label)
    "wait_for_run": ("pickup", "no run sensing yet, until a run's sensor starts"),
    "sensor": ("pickup", "the sensor until it has the object"),
    "start": ("scheduling", "upstream done until it runs"),
    "run": ("task", "runs"),
    "submit": ("databricks", "running until its Spark job runs"),
    "spark": ("spark", "Spark job"),
    "commit": ("spark", "Spark job until the target commit"),
    "poll": ("poll", "Spark job done until the task is done"),
}


def label(key: str) -> str:
    task_id, kind = key.split(".")
    return f"{task_id}: {KINDS[kind][1]}"


def critical_path(upload: Upload) -> list[Segment]:
    """Upload to visible, cut at each task boundary of the path; the segments sum to the latency."""
    out: list[Segment] = []

    def cut(task_id: str, kind: str, seconds: float) -> None:
        out.append(Segment(f"{task_id}.{kind}", seconds))

    sensor_start, previous_end = _span(upload, PATH[0])
    cut("pickup", "wait_for_run", max(0.0, sensor_start - upload.uploaded_at))
    cut("pickup", "sensor", previous_end - max(upload.uploaded_at, sensor_start))
    for task_id in PATH[1:]:
        start, end = _span(upload, task_id)
        cut(task_id, "start", start - previous_end)
        if task_id not in live_runs.ENTRY_POINTS:
            cut(task_id, "run", end - start)
        else:
            job = upload.job(task_id)
            cut(task_id, "submit", job.start - start)
            if task_id == "merge":  # the path ends at the merge's commit
                cut(task_id, "commit", upload.visible_at - job.start)
            else:
                cut(task_id, "spark", job.end - job.start)
                cut(task_id, "poll", end - job.end)
        previous_end = end
    total = sum(s.seconds for s in out)
    if abs(total - upload.latency) > 0.01:
        raise AssertionError(f"segments sum to {total:.3f} s, latency is {upload.latency:.3f} s")
    return out


@dataclass(frozen=True)
class Breakdown:
    """The uploads' latencies and their critical-path segments, gathered per segment and per kind."""

    latency: Timing
    segments: dict[str, list[float]]  # segment key -> seconds per upload
    categories: dict[str, list[float]]  # category -> seconds per upload
    starts: list[float]  # every task start on the path, all uploads

    @classmethod
    def of(cls, uploads: Sequence[Upload]) -> Breakdown:
        segments: dict[str, list[float]] = {}
        categories: dict[str, list[float]] = {c: [] for c in CATEGORIES}
        for upload in uploads:
            path = critical_path(upload)
            for seg in path:
                segments.setdefault(seg.key, []).append(seg.seconds)
            for category, values in categories.items():
                values.append(sum(s.seconds for s in path if s.category == category))
        starts = [v for k, values in segments.items() if k.endswith(".start") for v in values]
        return cls(timing([u.latency for u in uploads]), segments, categories, starts)

    def median_of(self, category: str) -> float:
        return median(self.categories[category])


AFTER = ("the whole run", "merge job after its commit", "merge task's poll and resume", "the tasks after it")


def after_visible(uploads: Sequence[Upload]) -> dict[str, list[float]]:
    """What each run does after the commit: the merge job's tail, its task's poll, the tasks after it."""
    out: dict[str, list[float]] = {k: [] for k in AFTER}
    for u in uploads:
        job, task_end, run_end = u.job("merge"), u.task("merge").end, u.run_end
        if task_end is not None and run_end is not None:
            parts = (run_end - u.visible_at, job.end - u.visible_at, task_end - job.end, run_end - task_end)
            for key, seconds in zip(AFTER, parts, strict=True):
                out[key].append(seconds)
    return out


def _upload_row(u: Upload) -> str:
    picked = fmt_seconds((u.task(PATH[0]).end or u.uploaded_at) - u.uploaded_at)
    end = fmt_seconds(u.run_end - u.visible_at) if u.run_end else "-"
    return (
        f"{u.index} | {fmt_seconds(u.latency)} | {picked} | {u.expected_keys:,} keys, version "
        f"{u.target_version} | `{u.run_id}` | {end} | {max(t.try_number for t in u.tasks)}"
    )


class LatencySection:
    name = "latency"
    title = "End-to-end latency: upload to rows visible in the target, on the long-running local stack"

    def run(self, ctx: BenchContext) -> SectionResult:
        runs = live_runs.measure(ctx)
        uploads, b = runs.uploads, Breakdown.of(runs.uploads)
        tail = after_visible(uploads)
        out = SectionResult(self.name, self.title)
        for stat in ("median", "min", "max"):
            out.add(f"latency_{stat}_seconds", getattr(b.latency, stat), "s")
        out.add("latency_uploads", len(uploads), "uploads")
        out.add("latency_rows_per_object", runs.rows_per_object, "rows")
        for category in CATEGORIES:
            out.add(f"latency_{category}_seconds", b.median_of(category), "s")
        out.add("latency_task_start_median_seconds", median(b.starts), "s")
        out.add("latency_run_end_after_visible_seconds", median(tail[AFTER[0]]), "s")
        out.check(
            f"local end-to-end latency, upload to visible in the target, <= {TARGET_SECONDS:.0f} s for a "
            f"{runs.rows_per_object:,}-row object",
            f"median {b.latency.text()} over {len(uploads)} upload(s)",
            b.latency.median <= TARGET_SECONDS,
            f"{b.latency.median - TARGET_SECONDS:.1f} s over",
        )
        cpu, loads = runs.cpu, [u.load_average for u in uploads]
        busy = cpu.machine_cpu_seconds / max(cpu.wall_seconds * cpu.cores, 1e-9)
        mode = (
            "on the DAG's local schedule, after seeded random pauses of up to "
            f"{max(u.pause_seconds for u in uploads):.0f} s"
            if runs.scheduled
            else "one run triggered per upload (smoke / live-test mode: no wait for the schedule)"
        )
        settings = ", ".join(f"`{k}={v}`" for k, v in runs.settings.items() if not k.endswith("_SPEC"))
        total = b.latency.median or 1.0
        out.markdown = "\n\n".join(
            [
                f"{len(uploads)} upload(s) of a {runs.rows_per_object:,}-row contract CSV object, {mode}"
                + ("; one untimed warm-up upload first." if runs.warm_up else "."),
                f"Settings: {settings}. Stack start: {fmt_seconds(runs.stack_started_in_seconds or 0)}. "
                f"Over the measured uploads ({cpu.wall_seconds:.0f} s) the {cpu.cores} cores were {busy:.0%} "
                f"busy: this benchmark's processes {cpu.bench_cpu_seconds:.0f} CPU-s, other work "
                f"{max(cpu.machine_cpu_seconds - cpu.bench_cpu_seconds, 0.0):.0f} CPU-s; 1-minute load "
                f"average {min(loads):.1f}-{max(loads):.1f} at the uploads.",
                f"**Latency: median {b.latency.text()}** (target {TARGET_SECONDS:.0f} s).",
                table(
                    "upload | latency | sensor done after | rows visible | run | run end after visible "
                    "| tries",
                    [_upload_row(u) for u in uploads],
                ),
                "By kind (median over uploads; share of the median latency):",
                table(
                    "part | seconds, median | share",
                    [
                        (CATEGORIES[c], fmt_seconds(b.median_of(c)), f"{b.median_of(c) / total:.0%}")
                        for c in sorted(CATEGORIES, key=b.median_of, reverse=True)
                    ],
                ),
                "Along the critical path (each upload's segments add up to its latency):",
                table(
                    "segment | median (min-max)",
                    [(label(k), timing(v).text()) for k, v in b.segments.items()],
                ),
                f"Task starts on the path: {len(b.starts)} measured, median {fmt_seconds(median(b.starts))}, "
                f"max {fmt_seconds(max(b.starts, default=0.0))}. After the rows are visible (medians):",
                table(
                    "after visible | seconds, median", [(k, fmt_seconds(median(v))) for k, v in tail.items()]
                ),
            ]
        )
        out.raw = {
            "latency": b.latency,
            "categories": {c: {"median": b.median_of(c), "runs": v} for c, v in b.categories.items()},
            "segments": {k: {"label": label(k), "runs": v} for k, v in b.segments.items()},
            "target_seconds": TARGET_SECONDS,
            "measurement": runs,
        }
        return out

"""Running the registered sections on one SparkSession and writing the page, the JSON and the plot."""

from __future__ import annotations

import fcntl
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from bench import machine, report
from bench.config import BenchConfig
from bench.registry import BenchContext, Section, SectionResult, sections

if TYPE_CHECKING:
    from bench.live_stack import StackFactory


@dataclass(frozen=True)
class BenchRun:
    """What a run produced: the sections' results, failures, and the files written."""

    results: list[SectionResult]
    errors: dict[str, str]
    page: Path
    raw: Path
    plot: Path | None


def run_bench(
    spark: SparkSession,
    cfg: BenchConfig,
    only: Sequence[str] = (),
    log: Callable[[str], None] = print,
    stack: StackFactory | None = None,
) -> BenchRun:
    """Run every registered section (or those named in ``only``) and write the outputs to ``cfg.out_dir``.

    A failing section is recorded on the page and in the JSON; the others still run, so one broken
    piece does not throw away a long run. A run of some sections (``only``) keeps the other sections
    an earlier run left in ``cfg.out_dir`` and re-renders the page with both, so sections can be
    measured separately (e.g. the end-to-end ones while a long Spark run owns the page). ``stack``
    starts the local stack for the end-to-end sections.
    """
    registered = sections()
    unknown = set(only) - {s.name for s in registered}
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; known: {[s.name for s in registered]}")
    chosen: list[Section] = [s for s in registered if not only or s.name in only]
    ctx = BenchContext(spark, cfg, log, stack)
    results: list[SectionResult] = []
    errors: dict[str, str] = {}
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    for section in chosen:
        log(f"== {section.title}")
        try:
            results.append(section.run(ctx))
        except Exception:
            errors[section.name] = traceback.format_exc()
            log(f"section {section.name} failed:\n{errors[section.name]}")
    described = machine.describe(spark)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    page, raw = cfg.out_dir / report.PAGE, cfg.out_dir / report.RAW
    document = report.raw_document(cfg, described, results, errors)
    # One writer at a time: a partial run reads, merges and writes while holding the lock.
    with (cfg.out_dir / ".benchmarks.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        earlier = report.read_raw(raw, page) if only else None
        if earlier is not None:
            document = report.merge_documents(earlier, document, [s.name for s in registered])
        plot_path = _plot(cfg.out_dir, described, results, "merge" in document["sections"])
        report.write_atomically(page, report.render_document(document, plot_path.name if plot_path else None))
        report.write_raw(raw, document)
    log(report.console_summary(results, errors))
    return BenchRun(results, errors, page, raw, plot_path)


def _plot(
    out_dir: Path, described: dict[str, Any], results: list[SectionResult], kept_merge: bool
) -> Path | None:
    """Plot this run's merge section; keep an earlier run's plot when its merge section was kept."""
    path = out_dir / report.PLOT
    merge = next((r for r in results if r.name == "merge"), None)
    if merge is None:
        return path if kept_merge and path.exists() else None
    from bench.plot import plot_merge

    subtitle = f"{described['cores']} cores, Spark {described['spark']}, Delta {described['delta']}"
    plot_merge(merge.raw["scenarios"], path, subtitle)
    return path

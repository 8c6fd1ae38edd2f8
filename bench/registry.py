"""What a benchmark section is, and the ordered registry ``make bench`` runs.

A section measures one thing against its baseline and returns a ``SectionResult``: figures
(named numbers), target checks and the markdown it adds to the page. A new item is another module
that defines a ``Section`` and is listed in ``sections()``; the harness, report and JSON need no
change. Sections 4 and 5 (latency, orchestration) also need the running local stack
(``BenchContext.stack``) and share one set of uploads (``BenchContext.shared``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pyspark.sql import SparkSession

from bench.config import BenchConfig

if TYPE_CHECKING:
    from bench.live_stack import StackFactory


@dataclass(frozen=True)
class Figure:
    """One measured number, as printed and written to the JSON."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class TargetCheck:
    """A target of issue #4 and how this run did against it."""

    target: str
    measured: str
    passed: bool
    gap: str = ""  # by how much it missed, when it missed
    diagnosis: str = ""  # what dominates the time and what would close the gap


@dataclass
class SectionResult:
    """A section's output: figures for the console and JSON, checks and markdown for the page."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    checks: list[TargetCheck] = field(default_factory=list)
    markdown: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str) -> None:
        self.figures.append(Figure(name, float(value), unit))


@dataclass(frozen=True)
class BenchContext:
    """What every section gets: the one SparkSession and the run's configuration.

    ``stack`` starts the local stack for the end-to-end sections (None: they fail with a clear error);
    ``shared`` holds measurements that more than one section reports, so they are made once per run.
    """

    spark: SparkSession
    config: BenchConfig
    log: Callable[[str], None]
    stack: StackFactory | None = None
    shared: dict[str, Any] = field(default_factory=dict)


class Section(Protocol):
    """A benchmark section: a short name (``--sections``), a title, and ``run``."""

    name: str
    title: str

    def run(self, ctx: BenchContext) -> SectionResult: ...


def sections() -> list[Section]:
    """The sections of a full run, in order (imported here so that each stays its own module)."""
    from bench.dag_parse import DagParseSection
    from bench.latency import LatencySection
    from bench.merge_bench import MergeSection
    from bench.orchestration import OrchestrationSection
    from bench.stage_ingest import StageIngestSection

    return [StageIngestSection(), MergeSection(), DagParseSection(), LatencySection(), OrchestrationSection()]

"""What a section is and returns: figures (named numbers), target checks, and the markdown it adds to
the page (tables and short captions; what they mean is in ``docs/benchmarks-notes.md``); and the
timing every figure uses: the median of the runs, with min and max.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pyspark.sql import SparkSession

from bench.config import BenchConfig

if TYPE_CHECKING:
    from bench.live_stack import StackFactory

T = TypeVar("T")


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

    def check(self, target: str, measured: str, passed: bool, gap: str) -> None:
        self.checks.append(TargetCheck(target, measured, passed, "" if passed else gap))


@dataclass(frozen=True)
class BenchContext:
    """The one SparkSession, the run's configuration, the local stack's factory for the end-to-end
    sections, and ``shared`` measurements more than one section reports (made once per run)."""

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


def table(header: str, rows: Sequence[str | tuple[object, ...]]) -> str:
    """A markdown table; ``header`` and string rows are cells joined by `` | ``."""
    cells = [row if isinstance(row, str) else " | ".join(str(cell) for cell in row) for row in rows]
    lines = [f"| {header} |", "|" + "---|" * len(header.split(" | ")), *(f"| {row} |" for row in cells)]
    return "\n".join(lines)


@dataclass(frozen=True)
class Timing:
    """Seconds of each repetition; the median is the figure, min and max show the spread."""

    runs: tuple[float, ...]
    median: float
    min: float
    max: float

    def text(self) -> str:
        """``12.3 s (11.9-13.0 s)``."""
        return f"{fmt_seconds(self.median)} ({fmt_seconds(self.min, unit=False)}-{fmt_seconds(self.max)})"


def timing(seconds: Sequence[float]) -> Timing:
    """The timing of at least one run (``statistics.StatisticsError`` for none)."""
    return Timing(tuple(seconds), statistics.median(seconds), min(seconds), max(seconds))


def timed(action: Callable[[], T]) -> tuple[float, T]:
    """Run ``action`` once; return its wall-clock seconds and its result."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def median(values: Sequence[float]) -> float:
    """The median, 0 for no values."""
    return statistics.median(values) if values else 0.0


def fmt_seconds(seconds: float, unit: bool = True) -> str:
    text = f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    return f"{text} s" if unit else text


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or infinity when the denominator is zero."""
    return numerator / denominator if denominator else float("inf")

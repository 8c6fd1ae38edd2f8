"""What a section is and returns: figures (named numbers), target checks, and the markdown it adds to
the page (tables and short captions; what they mean is in ``docs/benchmarks-notes.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def table(header: str, rows: Sequence[str | tuple[object, ...]]) -> list[str]:
    """A markdown table's lines; ``header`` and string rows are cells joined by `` | ``."""
    cells = [row if isinstance(row, str) else " | ".join(str(cell) for cell in row) for row in rows]
    return [f"| {header} |", "|" + "---|" * len(header.split(" | ")), *(f"| {row} |" for row in cells)]

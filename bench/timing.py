"""Wall-clock timing and the summary every figure uses: median of the runs, with min and max."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


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
    if not seconds:
        raise ValueError("a timing needs at least one run")
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

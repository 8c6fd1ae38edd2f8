"""Peak memory of the Spark driver JVM over one action (in local mode the driver does all the work).

Two views, both reset just before the action and read just after it:
- resident set: the kernel's high-water mark ``VmHWM`` of the JVM process, reset by writing ``5``
  to ``/proc/<pid>/clear_refs`` (Linux >= 4.0); if the reset is refused we sample ``VmRSS`` every
  50 ms instead, which can miss a short spike;
- Java heap: the peak usage of each heap memory pool (``MemoryPoolMXBean.resetPeakUsage`` /
  ``getPeakUsage``), summed; pools peak at different moments, so the sum is an upper bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from pyspark.sql import SparkSession

T = TypeVar("T")
MIB = 1024 * 1024


@dataclass(frozen=True)
class PeakMemory:
    rss_peak_mib: float
    rss_method: str
    heap_peak_mib: float
    heap_max_mib: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _heap_pools(spark: SparkSession) -> list[Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    pools = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
    return [pools.get(i) for i in range(pools.size()) if str(pools.get(i).getType().name()) == "HEAP"]


def measure_peak(spark: SparkSession, action: Callable[[], T]) -> tuple[PeakMemory, T]:
    """Run ``action`` and return the driver's peak memory during it, with the action's result."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    pools = _heap_pools(spark)
    for pool in pools:
        pool.resetPeakUsage()
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        method = "VmHWM after clear_refs reset"
    except OSError:
        method = "VmRSS sampled every 50 ms"
    samples = [_status_kib(pid, "VmRSS")]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            samples.append(_status_kib(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = action()
    finally:
        done.set()
        sampler.join()
    rss_kib = _status_kib(pid, "VmHWM") if method.startswith("VmHWM") else max(samples)
    heap_peak = sum(int(pool.getPeakUsage().getUsed()) for pool in pools)
    heap_max = int(jvm.java.lang.Runtime.getRuntime().maxMemory())
    return PeakMemory(rss_kib / 1024, method, heap_peak / MIB, heap_max / MIB), result

"""The process table from ``/proc`` (Linux): who is whose child, when it started, what CPU it used.

The local stack's services and the benchmarks both walk process trees: task processes call
``setsid``, so a process group does not hold them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcStat:
    pid: int
    parent: int
    start_time: str  # clock ticks since boot: tells a process from a later one that reused its pid
    cpu_ticks: int  # utime + stime + cutime + cstime (waited-for children included)


def process_table() -> dict[int, ProcStat]:
    """Every readable ``/proc/<pid>/stat``; processes that vanish while being read are left out."""
    table: dict[int, ProcStat] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        table[pid] = ProcStat(pid, int(fields[1]), fields[19], sum(int(v) for v in fields[11:15]))
    return table


def descendants(table: dict[int, ProcStat], roots: list[int]) -> list[ProcStat]:
    """Every descendant of ``roots`` (the roots themselves excluded), parents before children."""
    children: dict[int, list[int]] = {}
    for stat in table.values():
        children.setdefault(stat.parent, []).append(stat.pid)
    found: list[ProcStat] = []
    seen, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                found.append(table[child])
                todo.append(child)
    return found

"""Ending process trees for good, with ``psutil``: the local stack's clean-up and its tests use it.

Airflow's task processes call ``setsid`` and PySpark's JVM ignores SIGINT, so neither a process
group nor a signal to the parent ends everything a service started: the tree is read (``psutil``
``children(recursive=True)``) before its parents go, and each process is then ended by identity
(``psutil.Process`` checks the start time, so a pid reused meanwhile is never hit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import psutil

from local_stack.polling import PollTimeoutError, poll


def descendants(pids: Iterable[int]) -> list[psutil.Process]:
    """Every living descendant of ``pids`` (the roots excluded), each once; vanished roots are skipped."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                found.setdefault(child.pid, child)
    return list(found.values())


def process_tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and every living descendant, root first; empty if it is gone."""
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def _living(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The processes still running; a zombie (ended, not yet reaped by its parent) is not."""
    living = []
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                living.append(proc)
    return living


def end_processes(processes: Iterable[psutil.Process], grace: float) -> list[psutil.Process]:
    """SIGTERM each still-running process, wait up to ``grace`` seconds, SIGKILL the rest.

    Returns the processes still alive after the SIGKILL and 1 s more (normally none).
    """
    alive = _living(processes)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    if grace > 0:
        psutil.wait_procs(alive, timeout=grace)
    alive = _living(alive)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    with contextlib.suppress(PollTimeoutError):
        poll(lambda: _living(alive), until=lambda left: not left, timeout=1, interval=0.05, what="SIGKILL")
    return _living(alive)


def end_descendants(grace: float) -> list[psutil.Process]:
    """End every descendant of this process (:func:`end_processes`); returns any that survived."""
    return end_processes(psutil.Process().children(recursive=True), grace)

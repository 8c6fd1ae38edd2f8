"""``make up`` stops within 10 s of Ctrl-C or SIGTERM, however often the signal comes, and leaves no
process behind: no Airflow service or task process, no Spark JVM.

Each case starts the long-running stack in a process group of its own, on free ports and a
temporary ``LOCAL_STACK_DIR`` (a developer's ``make up`` is never touched), waits until it is
ready and its JVM is up, then signals the whole group as a terminal or ``kill`` would:

- ``make up`` and SIGTERM to the group, twice: make passes each SIGTERM on to the stack, which so
  gets four (the case that once left nine Airflow processes running);
- ``python -m local_stack.stack`` and SIGINT three times (Ctrl-C, pressed again while it stops).

Every process that inherited this test's marker variable counts: the stack's descendants seen
before the signal, and any process anywhere that still carries the marker afterwards.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO

import psutil
import pytest

from local_stack.airflow_env import REPO, free_port
from local_stack.polling import poll

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

READY_LINE = "Ctrl-C stops everything."
READY_SECONDS = 420  # two cores, shared with the rest of the suite: Airflow's four services start
STOP_SECONDS = 10.0
MARKER = "ORDER_TRACKING_STOP_TEST"


def _marked(marker: str) -> list[psutil.Process]:
    """Every living process (zombies aside) whose environment carries ``MARKER=marker``."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(MARKER) == marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _alive(procs: list[psutil.Process]) -> list[str]:
    left = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {proc.name()}: {' '.join(proc.cmdline())[:200]}")
    return left


def _reader(stream: IO[str] | None, lines: queue.Queue[str]) -> threading.Thread:
    """A thread copying ``stream``'s lines into ``lines`` (so the pipe never fills up)."""

    def read() -> None:
        for line in stream or ():
            lines.put(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait_ready(process: subprocess.Popen[str], lines: queue.Queue[str], seen: list[str]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while READY_LINE not in "".join(seen):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the stack did not get ready:\n" + "".join(seen)[-5000:])
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=1))


@pytest.mark.parametrize(
    ("command", "signals"),
    [
        pytest.param(
            ["make", "--no-print-directory", "up"], [signal.SIGTERM] * 2, id="make-up-sigterm-twice"
        ),
        pytest.param(
            [sys.executable, "-m", "local_stack.stack"], [signal.SIGINT] * 3, id="ctrl-c-three-times"
        ),
    ],
)
def test_the_stack_stops_within_10_s_and_leaves_nothing(
    command: list[str], signals: list[signal.Signals], tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    env = dict(os.environ) | {
        MARKER: marker,
        "LOCAL_STACK_DIR": str(tmp_path / "local"),
        "LOCAL_STACK_GCS_PORT": str(free_port()),
        "LOCAL_STACK_DATABRICKS_PORT": str(free_port()),
        "LOCAL_STACK_API_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    reader = _reader(process.stdout, lines)
    try:
        _wait_ready(process, lines, seen)
        root = psutil.Process(process.pid)
        poll(  # the runner's JVM is up (it starts while Airflow does)
            lambda: [p for p in root.children(recursive=True) if p.name() == "java"],
            timeout=180,
            interval=1,
            what="the Spark JVM",
        )
        before = root.children(recursive=True)

        started = time.monotonic()
        for signum in signals:
            os.killpg(process.pid, signum)
            time.sleep(0.5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS + 5)
        took = time.monotonic() - started
        left = _alive(before) + _alive(_marked(marker))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for proc in _marked(marker):  # never leave anything to the rest of the suite
            with contextlib.suppress(psutil.Error):
                proc.kill()
    reader.join(timeout=5)
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    print(f"{command[-1]} {[s.name for s in signals]}: exited {took:.1f} s after the first signal")
    print("".join(line for line in seen[-20:] if "stop" in line.lower()), end="")

    assert took < STOP_SECONDS, output[-5000:]
    assert left == [], output[-5000:]
    assert "further signals are ignored" in output
    assert "stopped in" in output
    if command[0] == sys.executable:
        assert process.returncode == 0, output[-5000:]

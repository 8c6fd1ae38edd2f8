"""Prints how long the suite took against its budget (``make test`` 600 s, ``make test-fast`` 90 s).

The budgets are issue 12's: a developer runs ``make test-fast`` before each commit and ``make test``
before each push, on a 2-core machine. The clock only reports; performance targets that can fail
live in ``make bench``, not in timed tests. ``SUITE_BUDGET_SECONDS`` (set by the Makefile) names the
budget; with it unset (a plain ``pytest``) only the time is printed.
"""

from __future__ import annotations

import os
import time

import pytest

_started = time.monotonic()


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started  # noqa: PLW0603 - one clock per pytest process
    _started = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    seconds = time.monotonic() - _started
    budget = os.environ.get("SUITE_BUDGET_SECONDS")
    verdict = ""
    if budget:
        verdict = f" of a {budget} s budget" + (" (OVER BUDGET)" if seconds > float(budget) else "")
    terminalreporter.write_line(f"suite clock: {seconds:.0f} s{verdict}")

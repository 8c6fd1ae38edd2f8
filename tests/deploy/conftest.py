"""Fixtures of the deploy tools' tests: the wheel built once, and a guard against any network call."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from deploy import REPO
from deploy.databricks import build_wheel


@pytest.fixture(scope="session")
def spark_tasks_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spark_tasks wheel, built once per test run by the deploy tool's own build step."""
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))


class NetworkCallError(AssertionError):
    """A connection was attempted while the test forbids the network."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make every outgoing connection of this process fail; return the addresses the test's own
    thread attempted (a client an earlier test left retrying in a thread of its own is not this
    test's call, and it is refused all the same)."""
    attempts: list[Any] = []
    owner = threading.get_ident()

    def refuse(self: socket.socket, address: Any) -> Any:
        if threading.get_ident() == owner:
            attempts.append(address)
        raise NetworkCallError(f"network call to {address} during a dry run")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


class Lines:
    """Collects what a command emits, one action per line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture
def emitted() -> Lines:
    return Lines()


def run_failing_command(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> <args>`` as a user does and check it fails as the tools promise:
    exit status 1 and exactly one line on stderr (no traceback, no stray logger warning)."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1, done.stderr
    return done

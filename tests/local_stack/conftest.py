"""Fixtures of the local-stack tests: one official Pub/Sub emulator for the tests that need one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_stack.pubsub_emulator import PubSubEmulator


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulator]:
    """The official Pub/Sub emulator on a free loopback port, started once (about 3 to 8 s here)."""
    with PubSubEmulator() as started:
        print(f"Pub/Sub emulator answered {started.start_seconds:.1f} s after launch")
        yield started

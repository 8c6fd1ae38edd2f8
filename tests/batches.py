"""Test helpers: the upsert rule's model (putting a batch in the emulator: ``local_stack.batches``)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from spark_tasks.contract import STATUSES


def expected_target(files: dict[str, bytes]) -> dict[str, tuple[str, datetime]]:
    """Latest valid event per tracking number; ties go to the later object, then the later record."""
    best: dict[str, tuple[tuple[datetime, int, int], str]] = {}
    for seq, name in enumerate(sorted(files), start=1):
        for index, row in enumerate(csv.DictReader(io.StringIO(files[name].decode())), start=1):
            if row["status"] not in STATUSES:
                continue  # rejected, never reaches the target
            ts = datetime.fromisoformat(row["event_ts"].replace("Z", "+00:00")).replace(tzinfo=None)
            rank = (ts, seq, index)
            key = row["tracking_num"]
            if key not in best or rank > best[key][0]:
                best[key] = (rank, row["status"])
    return {key: (status, rank[0]) for key, (rank, status) in best.items()}

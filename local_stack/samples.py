"""Seeded sample feed: contract CSV objects with repeated parcels, so merges really update rows."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

HEADER = ("tracking_num", "order_id", "carrier", "status", "event_ts", "location", "estimated_delivery_date")
STATUS_FLOW = ("LABEL_CREATED", "PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED")
CARRIERS = ("UPS", "FEDEX", "DHL", "USPS")
CITIES = ("Seattle, WA", "Austin, TX", "Denver, CO", "Boston, MA", "Miami, FL")


def sample_objects(
    objects: int = 3, rows_per_object: int = 200, parcels: int = 400, seed: int = 7, bad_share: float = 0.02
) -> dict[str, bytes]:
    """``{file name: CSV bytes}``; later objects carry later events for parcels seen earlier.

    About ``bad_share`` of the records carry a status outside the contract (``LOST``), so that a run
    shows rejects too.
    """
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    files = {}
    for index in range(objects):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HEADER)
        for _ in range(rows_per_object):
            parcel = rng.randrange(parcels)
            step = min(index + rng.randrange(2), len(STATUS_FLOW) - 1)
            event_ts = start + timedelta(hours=12 * index + rng.randrange(12), seconds=parcel)
            writer.writerow(
                (
                    f"1Z{parcel:08d}",
                    f"ORD-{parcel:06d}",
                    CARRIERS[parcel % len(CARRIERS)],
                    "LOST" if rng.random() < bad_share else STATUS_FLOW[step],
                    event_ts.isoformat().replace("+00:00", "Z"),
                    rng.choice(CITIES),
                    (start.date() + timedelta(days=3 + parcel % 4)).isoformat(),
                )
            )
        files[f"orders_{index + 1:03d}.csv"] = buffer.getvalue().encode("utf-8")
    return files

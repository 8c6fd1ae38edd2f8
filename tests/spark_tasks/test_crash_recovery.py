"""A crash after any write of the stage or merge job, then a re-run, leaves every table exactly as
one clean run does (Delta replaceWhere per batch, and a MERGE commit tagged with its batch id)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batch_documents import TableNames
from local_stack.batches import upload_batch
from spark_tasks import merge, stage_load, storage
from spark_tasks.tables import TableRef

pytestmark = pytest.mark.spark

HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"
TABLES = astuple(TableNames())  # the jobs' default table names
SEED = {
    "seed.csv": HEADER + "T1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,,\n"
    "T2,O2,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n"
}
BATCH = {
    "next.csv": HEADER
    + "T1,O1,UPS,OUT_FOR_DELIVERY,2026-11-26T10:00:00Z,,\n"  # update
    + "T1,O1,UPS,DELIVERED,2026-11-26T11:00:00Z,,\n"  # supersedes the row above in-batch
    + "T2,O2,UPS,IN_TRANSIT,2026-11-26T09:00:00Z,,\n"  # stale: the target is newer
    + "T3,O3,DHL,LABEL_CREATED,2026-11-26T09:00:00Z,,\n"  # insert
    + "T4,O4,DHL,LOST,2026-11-26T09:00:00Z,,\n",  # reject
    "copy.csv": HEADER + "T1,O1,UPS,IN_TRANSIT,2026-11-26T08:00:00Z,,\n"
    "T2,O2,UPS,DELIVERED,2026-11-26T12:00:00Z,,\n",  # same bytes as seed.csv: a duplicate
}


class CrashError(RuntimeError):
    """Stands for the worker dying right after a write."""


def _run(uri: str, root: Path) -> None:
    args = ["--manifest", uri, "--tables-root", str(root)]
    stage_load.main(args)
    merge.main(args)


def _snapshot(spark: Any, root: Path) -> dict[str, list[Any]]:
    return {
        name: sorted(map(tuple, spark.read.format("delta").load(str(root / name)).collect()), key=repr)
        for name in TABLES
    }


@pytest.fixture(scope="module")
def batches(gcs: Any, tmp_path_factory: pytest.TempPathFactory, spark: Any) -> dict[str, Any]:
    """The seed and crash batches' manifests, the seeded tables, and the clean reference result."""
    bucket = gcs.bucket("tracking_orders")
    uris = {
        batch_id: upload_batch(
            bucket,
            batch_id,
            files,
            datetime(2026, 11, 26, hour, tzinfo=UTC),
            staging_prefix="crash_zn/",
            batches_prefix="_crash_batches/",
        )
        for batch_id, files, hour in (("seed", SEED, 13), ("crash", BATCH, 14))
    }
    seeded = tmp_path_factory.mktemp("seeded")
    _run(uris["seed"], seeded)
    reference = tmp_path_factory.mktemp("reference")
    shutil.copytree(seeded, reference, dirs_exist_ok=True)
    _run(uris["crash"], reference)
    return {"uris": uris, "seeded": seeded, "expected": _snapshot(spark, reference)}


def _crash_after_save(number: int) -> Callable[[pytest.MonkeyPatch], None]:
    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        original, calls = TableRef.save, []

        def save(self: TableRef, writer: Any) -> None:
            original(self, writer)
            calls.append(self.name)
            if len(calls) == number:
                raise CrashError(f"crash after writing {self.name}")

        monkeypatch.setattr(TableRef, "save", save)

    return install


def _crash_after(module: Any, function: str) -> Callable[[pytest.MonkeyPatch], None]:
    def install(monkeypatch: pytest.MonkeyPatch) -> None:
        original = getattr(module, function)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            original(*args, **kwargs)
            raise CrashError(f"crash after {function}")

        monkeypatch.setattr(module, function, wrapped)

    return install


CRASH_POINTS = {
    "stage: after the stage-table write": ("stage", _crash_after_save(1)),
    "stage: after the rejects write": ("stage", _crash_after_save(2)),
    "stage: after the ledger write": ("stage", _crash_after_save(3)),
    "stage: after the result document": ("stage", _crash_after(storage, "write_text")),
    "merge: after the MERGE commit": ("merge", _crash_after(merge, "_execute_merge")),
    "merge: after the audit write": ("merge", _crash_after_save(1)),
    "merge: after the result document": ("merge", _crash_after(storage, "write_text")),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_rerun_after_a_crash_equals_one_clean_run(
    point: str, batches: dict[str, Any], spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step, install_crash = CRASH_POINTS[point]
    shutil.copytree(batches["seeded"], tmp_path, dirs_exist_ok=True)
    args = ["--manifest", batches["uris"]["crash"], "--tables-root", str(tmp_path)]
    with monkeypatch.context() as patch:
        if step == "merge":
            stage_load.main(args)
        install_crash(patch)
        with pytest.raises(CrashError):
            (stage_load if step == "stage" else merge).main(args)
    _run(batches["uris"]["crash"], tmp_path)  # the retry runs the whole batch again
    assert _snapshot(spark, tmp_path) == batches["expected"]


def test_the_reference_batch_reconciles(batches: dict[str, Any]) -> None:
    (audit,) = [row for row in batches["expected"]["audit_zn_new"] if row[0] == "crash"]
    columns = [
        "batch_id",
        "objects",
        "objects_loaded",
        "objects_quarantined",
        "objects_duplicate",
        "records_read",
        "rows_loaded",
        "rows_rejected",
        "keys_in_batch",
        "superseded_in_batch",
        "inserted",
        "updated",
        "stale_skipped",
        "target_rows",
    ]
    row = dict(zip(columns, audit, strict=False))
    assert (row["objects"], row["objects_loaded"], row["objects_duplicate"]) == (2, 1, 1)
    assert (row["records_read"], row["rows_loaded"], row["rows_rejected"]) == (5, 4, 1)
    assert (row["inserted"], row["updated"], row["stale_skipped"], row["superseded_in_batch"]) == (1, 1, 1, 1)
    assert (
        row["inserted"] + row["updated"] + row["stale_skipped"] + row["superseded_in_batch"]
        == row["rows_loaded"]
    )
    assert row["target_rows"] == 3
    target = {r[0]: r[3] for r in batches["expected"]["target_zn_new"]}
    assert target == {"T1": "DELIVERED", "T2": "DELIVERED", "T3": "LABEL_CREATED"}

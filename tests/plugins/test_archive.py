"""Archive and quarantine moves: planned from a manifest and a stage result, carried out by generation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from batch_documents import (
    Destination,
    Manifest,
    ManifestObject,
    ObjectOutcome,
    Outcome,
    RunMode,
    SchemaPolicy,
    StageResult,
)
from order_tracking import claims
from order_tracking.archive import (
    MAX_NAME_BYTES,
    PlacementError,
    destination_name,
    move_groups,
    placements,
)
from order_tracking.claims import ClaimError

DAY = date(2026, 11, 26)
PREFIXES = {"archive_prefix": "archive/", "quarantine_prefix": "quarantine/", "staging_prefix": "staging_zn/"}
DISCARD = Destination.DISCARD


def _entry(name: str, generation: str = "5", seq: int = 1) -> ManifestObject:
    return ManifestObject.in_bucket(
        "bkt",
        seq,
        name,
        generation=generation,
        md5_hash=f"md5-{name}",
        crc32c="crc",
        size=3,
        snapshot=f"_batches/b7/objects/{abs(hash(name)) % 1000:016d}-{generation}.csv",
    )


def _batch(
    objects: list[ManifestObject],
    not_csv: list[ManifestObject] | tuple[()] = (),
    mode: RunMode = RunMode.INCREMENTAL,
    dry_run: bool = False,
) -> Manifest:
    return Manifest(
        batch_id="b7",
        bucket="bkt",
        created_at=datetime(2026, 11, 26, 13, tzinfo=UTC),
        objects=tuple(objects),
        stage_result_uri="gs://bkt/_batches/b7/stage_result.json",
        merge_result_uri="gs://bkt/_batches/b7/merge_result.json",
        mode=mode,
        dry_run=dry_run,
        not_csv=tuple(not_csv),
    )


def _manifest(*names: str, not_csv: tuple[str, ...] = (), **fields: Any) -> Manifest:
    return _batch([_entry(name) for name in names], [_entry(name) for name in not_csv], **fields)


def _stage_result(*outcomes: tuple[str, str]) -> StageResult:
    return StageResult(
        "b7",
        SchemaPolicy.ADD,
        tuple(ObjectOutcome(name, Outcome.LOADED, Destination(where)) for name, where in outcomes),
    )


def _groups(manifest: Manifest, stage_result: StageResult | None) -> list[dict[str, Any]]:
    return move_groups(placements(manifest, stage_result), "b7", run_date=DAY, **PREFIXES)


def test_each_object_moves_from_its_batch_copy_to_its_own_name_under_date_and_batch() -> None:
    names = ("staging_zn/0.csv", "staging_zn/a*.csv", "staging_zn/x%20y [1].csv")
    manifest = _manifest(*names)
    result = _stage_result((names[0], "archive"), (names[1], "quarantine"), (names[2], "archive"))
    archive, quarantine = _groups(manifest, result)
    entry = manifest.objects[0]
    assert archive["moves"][0] == {
        "name": "staging_zn/0.csv",
        "source": entry.snapshot,
        "source_generation": None,  # a batch copy: its live generation is the one to move
        "destination": "archive/2026-11-26/b7/0.csv",
        "md5_hash": entry.md5_hash,
        "crc32c": "crc",
        "size": 3,
    }
    assert [m["destination"] for m in archive["moves"]] == [
        "archive/2026-11-26/b7/0.csv",
        "archive/2026-11-26/b7/x%20y [1].csv",
    ]
    assert [m["destination"] for m in quarantine["moves"]] == ["quarantine/2026-11-26/b7/a*.csv"]


def test_non_csv_objects_are_quarantined_from_their_batch_copy() -> None:
    manifest = _manifest(not_csv=("staging_zn/x.tmp",))
    (quarantine,) = _groups(manifest, None)
    (move,) = quarantine["moves"]
    assert (move["source"], move["destination"]) == (
        manifest.not_csv[0].snapshot,
        "quarantine/2026-11-26/b7/x.tmp",
    )


def test_a_version_1_manifest_moves_the_original_by_its_generation() -> None:
    manifest = Manifest.from_dict(
        {
            "version": 1,
            "batch_id": "b7",
            "bucket": "bkt",
            "created_at": "2026-11-26T13:00:00+00:00",
            "mode": "incremental",
            "objects": [{"name": "staging_zn/a.csv", "generation": "9", "md5_hash": "m"}],
            "not_csv": ["staging_zn/x.tmp"],
            "results": {"stage": "gs://bkt/s.json", "merge": "gs://bkt/m.json"},
        }
    )
    archive, quarantine = _groups(manifest, _stage_result(("staging_zn/a.csv", "archive")))
    assert [(m["source"], m["source_generation"]) for m in archive["moves"]] == [("staging_zn/a.csv", "9")]
    assert [(m["source"], m["source_generation"]) for m in quarantine["moves"]] == [
        ("staging_zn/x.tmp", None)
    ]


def test_dry_runs_and_replays_move_nothing_and_discard_their_batch_copies() -> None:
    result = _stage_result(("staging_zn/a.csv", "archive"), ("staging_zn/b.csv", "quarantine"))
    dry = _manifest("staging_zn/a.csv", "staging_zn/b.csv", not_csv=("staging_zn/x.tmp",), dry_run=True)
    replay = _manifest("archive/d/b/a.csv", mode=RunMode.REPLAY)
    for manifest in (dry, replay):
        entries = [*manifest.objects, *manifest.not_csv]
        names = [entry.name for entry in entries]
        assert placements(manifest, result) == [(entry, DISCARD) for entry in entries]
        (group,) = _groups(manifest, result)
        assert [(m["name"], m["source"], m["destination"]) for m in group["moves"]] == [
            (name, _entry(name).snapshot, None) for name in names
        ]


def test_a_stage_result_about_objects_the_manifest_does_not_list_moves_nothing() -> None:
    manifest = _manifest("staging_zn/a.csv")
    with pytest.raises(PlacementError, match=r"does not list: 'staging_zn/b\.csv'"):
        placements(manifest, _stage_result(("staging_zn/a.csv", "archive"), ("staging_zn/b.csv", "archive")))


def test_discarding_deletes_only_batch_copies(bucket: Any) -> None:
    copy = _put(bucket, "_batches/b7/objects/0000000000000001-1.csv", b"x")
    original = _put(bucket, "staging_zn/a.csv", b"x")
    move = {"name": "staging_zn/a.csv", "source": copy.name, "destination": None}
    assert claims.move_object(bucket, move) == "discarded"
    assert claims.move_object(bucket, move) == "already discarded"  # a retry
    assert bucket.get_blob(copy.name) is None
    with pytest.raises(claims.ClaimError, match="not a batch copy"):
        claims.move_object(bucket, {"name": original.name, "source": original.name, "destination": None})
    assert bucket.get_blob(original.name) is not None


def test_no_empty_group_is_planned() -> None:
    manifest = _manifest("staging_zn/a.csv")
    assert [len(g["moves"]) for g in _groups(manifest, _stage_result(("staging_zn/a.csv", "archive")))] == [1]
    assert move_groups([], "b7", run_date=DAY, **PREFIXES) == []


def test_a_name_too_long_for_its_destination_keeps_its_end_behind_a_hash() -> None:
    folder = "archive/2026-11-26/" + "b" * 120 + "/"
    leaf = "ü" * 300 + "-orders.csv"  # 611 bytes: fits in staging, not under this folder
    first = destination_name(folder, f"staging_zn/{leaf}", "staging_zn/")
    second = destination_name(folder, f"staging_zn/x{leaf}", "staging_zn/")
    assert len(first.encode()) <= MAX_NAME_BYTES
    assert first.startswith(folder)
    assert first.endswith("ü-orders.csv")
    assert first != second
    assert destination_name(folder, "staging_zn/a.csv", "staging_zn/") == folder + "a.csv"
    assert destination_name(folder, "elsewhere/deep/a.csv", "staging_zn/") == folder + "a.csv"


# --- the moves against the emulator ---------------------------------------------------------------


def _put(bucket: Any, name: str, data: bytes) -> Any:
    blob = bucket.blob(name)
    blob.upload_from_string(data)
    return blob


def _move_plan(bucket: Any, names: dict[str, bytes]) -> list[dict[str, Any]]:
    """Batch copies of ``names`` (as a cut leaves them) and the moves planned for them."""
    entries = []
    for i, (name, data) in enumerate(names.items()):
        copy = _put(bucket, f"_batches/b7/objects/{i:016d}-1.csv", data)
        entries.append(
            ManifestObject.in_bucket(
                bucket.name,
                i + 1,
                name,
                generation="1",
                md5_hash=copy.md5_hash,
                crc32c=copy.crc32c,
                snapshot=copy.name,
            )
        )
    manifest = _batch(entries)
    result = _stage_result(*((name, "archive") for name in names))
    (group,) = _groups(manifest, result)
    return list(group["moves"])


def _execute(bucket: Any, moves: list[dict[str, Any]]) -> dict[str, int]:
    from order_tracking.moves import MoveObjectGenerationsOperator

    operator = MoveObjectGenerationsOperator(task_id="move_objects", bucket=bucket.name, moves=moves)
    return operator.execute(context={})


def _names(bucket: Any) -> list[str]:
    return sorted(blob.name for blob in bucket.client.list_blobs(bucket.name))


@pytest.mark.usefixtures("gcs_connection")
def test_a_half_done_move_is_finished_by_the_retry(bucket: Any) -> None:
    """The first try moved one object and died mid-way through another; the retry finishes both."""
    moves = _move_plan(
        bucket, {"staging_zn/a.csv": b"a\n", "staging_zn/b*.csv": b"b\n", "staging_zn/c.csv": b"c\n"}
    )
    a, b, _ = moves
    bucket.copy_blob(bucket.blob(a["source"]), bucket, a["destination"])
    bucket.blob(a["source"]).delete()  # a: moved
    bucket.copy_blob(bucket.blob(b["source"]), bucket, b["destination"])  # b: copied, not deleted

    assert _execute(bucket, moves) == {"already moved": 2, "moved": 1}

    assert _names(bucket) == [
        "archive/2026-11-26/b7/a.csv",
        "archive/2026-11-26/b7/b*.csv",
        "archive/2026-11-26/b7/c.csv",
    ]
    assert bucket.blob("archive/2026-11-26/b7/b*.csv").download_as_bytes() == b"b\n"
    assert _execute(bucket, moves) == {"already moved": 3}  # a third try changes nothing


@pytest.mark.usefixtures("gcs_connection")
def test_a_destination_holding_other_bytes_stops_the_move(bucket: Any) -> None:
    moves = _move_plan(bucket, {"staging_zn/a.csv": b"ours\n"})
    _put(bucket, moves[0]["destination"], b"someone else's\n")
    with pytest.raises(ClaimError, match="other bytes"):
        _execute(bucket, moves)
    assert bucket.get_blob(moves[0]["source"]) is not None  # the batch copy is kept


@pytest.mark.usefixtures("gcs_connection")
def test_a_lost_batch_copy_stops_the_move(bucket: Any) -> None:
    moves = _move_plan(bucket, {"staging_zn/a.csv": b"ours\n"})
    bucket.blob(moves[0]["source"]).delete()
    with pytest.raises(ClaimError, match="neither"):
        _execute(bucket, moves)

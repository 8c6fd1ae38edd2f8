"""The DAG's Python tasks against the GCS emulator: what a batch holds, whatever arrives meanwhile.

``cut_batch`` claims each object by generation (a batch copy) and releases the original; the moves
go from the batch copies to each object's own name. Objects are identified by name *and*
generation throughout, so no name and no overwrite at any moment can lose or misplace bytes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from batch_documents import Destination, Manifest, ObjectOutcome, Outcome, SchemaPolicy, StageResult
from order_tracking import tasks
from order_tracking.config import PipelineConfig
from order_tracking.moves import MoveObjectGenerationsOperator
from order_tracking.tasks import cut_batch, plan_moves
from tests.object_names import awkward_leaves

MANUAL = SimpleNamespace(run_type="manual")
CONFIG = PipelineConfig().to_dict()  # what the DAG hands its tasks: the defaults

pytestmark = pytest.mark.usefixtures("gcs_connection")


def _cut(sensed: Any, run_id: str, **params: Any) -> dict[str, Any]:
    return cut_batch.function(sensed, CONFIG, params=params, dag_run=MANUAL, run_id=run_id)


def _put(bucket: Any, name: str, data: bytes) -> None:
    bucket.blob(name).upload_from_string(data)


def _bytes(bucket: Any, name: str) -> bytes | None:
    blob = bucket.get_blob(name)
    return None if blob is None else bytes(blob.download_as_bytes())


def _names(bucket: Any, prefix: str = "") -> list[str]:
    return sorted(blob.name for blob in bucket.client.list_blobs(bucket.name, prefix=prefix))


@pytest.mark.parametrize("other", ["manual__load:1", "manual__load 1", "manual__load/1", "manual__load_1_"])
def test_a_run_whose_id_maps_to_another_runs_batch_is_refused_not_given_that_batch(
    bucket: Any, other: str
) -> None:
    """Batch ids are run ids made path-safe, so run ids can share one; the manifest names the run
    that cut it, and another run gets a clear error instead of that run's batch."""
    _put(bucket, "staging_zn/a.csv", b"tracking_num\n")
    batch = _cut(True, "manual__load_1")
    assert _manifest(bucket, batch)["run_id"] == "manual__load_1"
    _put(bucket, "staging_zn/b.csv", b"tracking_num\n")

    with pytest.raises(AirflowFailException, match=r"both map to batch 'manual__load_1'.*run id of its own"):
        _cut(True, other)

    assert _cut(True, "manual__load_1") == batch  # the run that cut it still finds its batch
    assert _names(bucket, "staging_zn/") == ["staging_zn/b.csv"]  # b waits for a run of its own


def _manifest(bucket: Any, batch: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(bucket.blob(f"_batches/{batch['batch_id']}/manifest.json").download_as_bytes()))


def _folder(batch: dict[str, Any]) -> str:
    """``<cut date>/<batch id>/``, the batch's folder under archive/ and quarantine/."""
    return f"{datetime.fromisoformat(batch['created_at']).date().isoformat()}/{batch['batch_id']}/"


def _finish(bucket: Any, batch: dict[str, Any], quarantined: frozenset[str] = frozenset()) -> None:
    """What follows the cut: the stage job's verdicts (``quarantined`` names, the rest archived),
    then ``plan_moves`` and the mapped move tasks."""
    manifest = _manifest(bucket, batch)
    verdicts = tuple(
        ObjectOutcome(o["name"], Outcome.QUARANTINED, Destination.QUARANTINE)
        if o["name"] in quarantined
        else ObjectOutcome(o["name"], Outcome.LOADED, Destination.ARCHIVE)
        for o in manifest["objects"]
    )
    result = f"_batches/{batch['batch_id']}/stage_result.json"
    stage_result = StageResult(batch["batch_id"], SchemaPolicy.ADD, verdicts)
    bucket.blob(result).upload_from_string(stage_result.to_json())
    for group in plan_moves.function(batch, CONFIG):
        MoveObjectGenerationsOperator(task_id="move_objects", bucket=bucket.name, **group).execute({})


def test_a_batch_is_what_lies_directly_under_the_prefix_at_the_cut_and_a_retry_sees_the_same(
    bucket: Any,
) -> None:
    for name in ("a.csv", "b.tmp", "sub/c.csv"):
        _put(bucket, f"staging_zn/{name}", b"tracking_num\n")
    _put(bucket, "staging_zn/", b"")

    batch = _cut(True, "manual__cut")

    manifest = _manifest(bucket, batch)
    assert [o["name"] for o in manifest["objects"]] == ["staging_zn/a.csv"]
    assert [o["name"] for o in manifest["not_csv"]] == ["staging_zn/b.tmp"]  # claimed too
    assert all(
        o["snapshot"].startswith(f"_batches/{batch['batch_id']}/objects/") for o in manifest["objects"]
    )
    assert (batch["objects"], batch["not_csv"], batch["mode"]) == (1, 1, "incremental")
    assert _names(bucket, "staging_zn/") == ["staging_zn/", "staging_zn/sub/c.csv"]  # the rest released
    _put(bucket, "staging_zn/later.csv", b"tracking_num\n")
    assert _cut(True, "manual__cut") == batch  # the retry reuses the manifest
    assert _names(bucket, "staging_zn/") == ["staging_zn/", "staging_zn/later.csv", "staging_zn/sub/c.csv"]


def test_nothing_sensed_or_only_placeholders_skip_the_run(bucket: Any) -> None:
    _put(bucket, "staging_zn/", b"")
    _put(bucket, "staging_zn/sub/old.csv", b"tracking_num\n")
    with pytest.raises(AirflowSkipException, match="no new object"):
        _cut(None, "manual__nothing")
    with pytest.raises(AirflowSkipException, match="nothing to load"):
        _cut(True, "manual__placeholder")
    assert _names(bucket) == ["staging_zn/", "staging_zn/sub/old.csv"]


def test_named_objects_must_exist_and_a_dry_run_leaves_the_feed_as_found(bucket: Any) -> None:
    _put(bucket, "staging_zn/here [1].csv", b"tracking_num\n")
    with pytest.raises(AirflowFailException, match=r"staging_zn/gone\.csv"):
        _cut(None, "manual__named", objects=["here [1].csv", "gone.csv"])
    batch = _cut(None, "manual__named_ok", objects=["here [1].csv"], dry_run=True)
    assert (batch["mode"], batch["dry_run"], batch["objects"]) == ("objects", True, 1)
    (entry,) = _manifest(bucket, batch)["objects"]
    assert _bytes(bucket, entry["snapshot"]) == b"tracking_num\n"  # read from the copy
    assert _names(bucket, "staging_zn/") == ["staging_zn/here [1].csv"]  # not released


def test_named_objects_are_claimed_and_released(bucket: Any) -> None:
    _put(bucket, "staging_zn/a*.csv", b"tracking_num\n")
    _put(bucket, "staging_zn/a1.csv", b"tracking_num\nA1\n")
    batch = _cut(None, "manual__named_load", objects=["a*.csv"])
    assert [o["name"] for o in _manifest(bucket, batch)["objects"]] == ["staging_zn/a*.csv"]
    assert _names(bucket, "staging_zn/") == ["staging_zn/a1.csv"]  # `*` is a character, not a wildcard


def test_a_contradictory_form_fails_without_retrying(bucket: Any) -> None:
    with pytest.raises(AirflowFailException, match="not both"):
        _cut(None, "manual__both", objects=["a.csv"], replay_date="2026-11-20")


def test_a_backfill_run_replays_the_archive_of_its_day_from_copies(bucket: Any) -> None:
    from airflow.sdk.api.datamodels._generated import DagRunType

    _put(bucket, "archive/2026-11-25/b1/a.csv", b"tracking_num\n")
    _put(bucket, "archive/2026-11-26/b2/b.csv", b"tracking_num\n")
    midnight = datetime(2026, 11, 25, tzinfo=UTC)  # a trigger timetable: start == end
    batch = cut_batch.function(
        None,
        CONFIG,
        params={},
        dag_run=SimpleNamespace(run_type=DagRunType.BACKFILL),  # the enum the task context holds
        run_id="backfill__2026-11-25",
        data_interval_start=midnight,
        data_interval_end=midnight,
    )
    assert (batch["mode"], batch["objects"]) == ("replay", 1)
    (entry,) = _manifest(bucket, batch)["objects"]
    assert entry["name"] == "archive/2026-11-25/b1/a.csv"
    assert _bytes(bucket, entry["snapshot"]) == b"tracking_num\n"
    assert _names(bucket, "archive/") == ["archive/2026-11-25/b1/a.csv", "archive/2026-11-26/b2/b.csv"]


def test_every_awkward_name_is_claimed_and_archived_under_its_own_name_with_its_own_bytes(
    bucket: Any,
) -> None:
    csv_names = [f"staging_zn/{leaf}" for leaf in awkward_leaves()]
    stray_names = ["staging_zn/a*.tmp", "staging_zn/x?.json", "staging_zn/[1] ü.txt"]
    for name in [*csv_names, *stray_names]:
        _put(bucket, name, name.encode())
    quarantined = frozenset(csv_names[:3])

    batch = _cut(True, "manual__awkward")
    assert _names(bucket, "staging_zn/") == []
    _finish(bucket, batch, quarantined)

    folder = _folder(batch)
    archive = {n.removeprefix(f"archive/{folder}"): _bytes(bucket, n) for n in _names(bucket, "archive/")}
    quarantine = {
        n.removeprefix(f"quarantine/{folder}"): _bytes(bucket, n) for n in _names(bucket, "quarantine/")
    }
    staging = "staging_zn/"
    assert archive == {n.removeprefix(staging): n.encode() for n in csv_names if n not in quarantined}
    assert quarantine == {n.removeprefix(staging): n.encode() for n in [*quarantined, *stray_names]}
    assert _names(bucket, "staging_zn/") == []
    assert _names(bucket, f"_batches/{batch['batch_id']}/objects/") == []  # every copy moved on
    assert set(_names(bucket)) - {f"archive/{folder}{k}" for k in archive} - {
        f"quarantine/{folder}{k}" for k in quarantine
    } == {
        f"_batches/{batch['batch_id']}/manifest.json",
        f"_batches/{batch['batch_id']}/stage_result.json",
        "_state/feed_heartbeat.json",
    }


def test_bytes_overwritten_after_the_cut_stay_in_staging_for_the_next_run(
    bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live sequence of the arrival-race case: a.csv overwritten between the manifest and the
    release, b.csv overwritten after the stage step. The batch loads and archives the bytes it
    claimed; the newer bytes of both stay in staging and make the next batch."""
    _put(bucket, "staging_zn/a.csv", b"a v1\n")
    _put(bucket, "staging_zn/b.csv", b"b v1\n")
    write_manifest = tasks._write_manifest_once

    def write_then_overwrite(*args: Any) -> Manifest:
        manifest = write_manifest(*args)
        _put(bucket, "staging_zn/a.csv", b"a v2\n")  # the new generation lands before the release
        _put(bucket, "staging_zn/late.csv", b"late\n")
        return manifest

    monkeypatch.setattr(tasks, "_write_manifest_once", write_then_overwrite)
    first = _cut(True, "manual__race1")
    monkeypatch.setattr(tasks, "_write_manifest_once", write_manifest)
    entries = {o["name"]: o for o in _manifest(bucket, first)["objects"]}
    assert sorted(entries) == ["staging_zn/a.csv", "staging_zn/b.csv"]
    assert _bytes(bucket, entries["staging_zn/a.csv"]["snapshot"]) == b"a v1\n"
    _put(bucket, "staging_zn/b.csv", b"b v2\n")  # after the stage step read b's copy
    _finish(bucket, first)

    archived = f"archive/{_folder(first)}"
    assert (_bytes(bucket, archived + "a.csv"), _bytes(bucket, archived + "b.csv")) == (b"a v1\n", b"b v1\n")
    assert _names(bucket, "staging_zn/") == ["staging_zn/a.csv", "staging_zn/b.csv", "staging_zn/late.csv"]

    second = _cut(True, "manual__race2")
    entries = {o["name"]: o for o in _manifest(bucket, second)["objects"]}
    assert sorted(entries) == ["staging_zn/a.csv", "staging_zn/b.csv", "staging_zn/late.csv"]
    assert _bytes(bucket, entries["staging_zn/a.csv"]["snapshot"]) == b"a v2\n"
    _finish(bucket, second)
    archived = f"archive/{_folder(second)}"
    assert (_bytes(bucket, archived + "a.csv"), _bytes(bucket, archived + "b.csv")) == (b"a v2\n", b"b v2\n")
    assert _names(bucket, "staging_zn/") == []


def test_an_object_overwritten_between_listing_and_copy_is_left_for_the_next_run(
    bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put(bucket, "staging_zn/a.csv", b"a v1\n")
    _put(bucket, "staging_zn/b.csv", b"b v1\n")
    claim = tasks.claim_objects

    def overwrite_then_claim(*args: Any) -> Any:
        _put(bucket, "staging_zn/a.csv", b"a v2\n")
        return claim(*args)

    monkeypatch.setattr(tasks, "claim_objects", overwrite_then_claim)
    batch = _cut(True, "manual__listed")

    assert [o["name"] for o in _manifest(bucket, batch)["objects"]] == ["staging_zn/b.csv"]
    assert _names(bucket, "staging_zn/") == ["staging_zn/a.csv"]
    assert _bytes(bucket, "staging_zn/a.csv") == b"a v2\n"


def test_a_retry_after_the_manifest_finishes_releasing_the_originals(
    bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a.csv", "b.csv", "c.tmp"):
        _put(bucket, f"staging_zn/{name}", name.encode())

    def crash(*args: Any) -> int:
        raise RuntimeError("worker lost after writing the manifest")

    release = tasks.release_originals
    monkeypatch.setattr(tasks, "release_originals", crash)
    with pytest.raises(RuntimeError, match="worker lost"):
        _cut(True, "manual__crash")
    monkeypatch.setattr(tasks, "release_originals", release)
    assert _names(bucket, "staging_zn/") == ["staging_zn/a.csv", "staging_zn/b.csv", "staging_zn/c.tmp"]

    batch = _cut(True, "manual__crash")

    assert (batch["objects"], batch["not_csv"]) == (2, 1)
    assert _names(bucket, "staging_zn/") == []
    assert (
        json.loads(bucket.blob("_state/feed_heartbeat.json").download_as_bytes())["last_batch_id"]
        == (batch["batch_id"])
    )

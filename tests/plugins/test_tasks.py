"""The DAG's Python tasks against the GCS emulator: what a batch holds, whatever arrives meanwhile."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from order_tracking.tasks import cut_batch

MANUAL = SimpleNamespace(run_type="manual")


pytestmark = pytest.mark.usefixtures("gcs_connection")


def _cut(sensed: list[str] | None, run_id: str, **params: Any) -> dict[str, Any]:
    return cut_batch.function(sensed, params=params, dag_run=MANUAL, run_id=run_id)


def _manifest(bucket: Any, batch: dict[str, Any]) -> dict[str, Any]:
    return json.loads(bucket.blob(f"_batches/{batch['batch_id']}/manifest.json").download_as_bytes())


def test_a_batch_holds_only_what_the_sensor_saw_and_a_retry_sees_the_same(bucket: Any) -> None:
    for name in ("a.csv", "b.tmp"):
        bucket.blob(f"staging_zn/{name}").upload_from_string(b"tracking_num\n")
    sensed = ["staging_zn/a.csv", "staging_zn/b.tmp"]
    bucket.blob("staging_zn/late.csv").upload_from_string(b"tracking_num\n")  # after the sensor's poke

    batch = _cut(sensed, "manual__sensed")

    manifest = _manifest(bucket, batch)
    assert [o["name"] for o in manifest["objects"]] == ["staging_zn/a.csv"]
    assert manifest["not_csv"] == ["staging_zn/b.tmp"]
    assert (batch["objects"], batch["not_csv"], batch["mode"]) == (1, 1, "incremental")
    bucket.blob("staging_zn/later.csv").upload_from_string(b"tracking_num\n")
    assert _cut([*sensed, "staging_zn/later.csv"], "manual__sensed") == batch  # the retry reuses it


def test_nothing_sensed_or_only_placeholders_skip_the_run(bucket: Any) -> None:
    bucket.blob("staging_zn/").upload_from_string(b"")
    with pytest.raises(AirflowSkipException, match="no new object"):
        _cut(None, "manual__nothing")
    with pytest.raises(AirflowSkipException, match="nothing to load"):
        _cut(["staging_zn/"], "manual__placeholder")


def test_named_objects_must_exist_and_are_named_in_the_error(bucket: Any) -> None:
    bucket.blob("staging_zn/here.csv").upload_from_string(b"tracking_num\n")
    with pytest.raises(AirflowFailException, match=r"staging_zn/gone\.csv"):
        _cut(None, "manual__named", objects=["here.csv", "gone.csv"])
    batch = _cut(None, "manual__named_ok", objects=["here.csv"], dry_run=True)
    assert (batch["mode"], batch["dry_run"], batch["objects"]) == ("objects", True, 1)


def test_a_contradictory_form_fails_without_retrying(bucket: Any) -> None:
    with pytest.raises(AirflowFailException, match="not both"):
        _cut(None, "manual__both", objects=["a.csv"], replay_date="2026-11-20")


def test_a_backfill_run_replays_the_archive_of_its_day(bucket: Any) -> None:
    from datetime import UTC, datetime

    from airflow.sdk.api.datamodels._generated import DagRunType

    bucket.blob("archive/2026-11-25/b1/a.csv").upload_from_string(b"tracking_num\n")
    bucket.blob("archive/2026-11-26/b2/b.csv").upload_from_string(b"tracking_num\n")
    midnight = datetime(2026, 11, 25, tzinfo=UTC)  # a trigger timetable: start == end
    batch = cut_batch.function(
        None,
        params={},
        dag_run=SimpleNamespace(run_type=DagRunType.BACKFILL),  # the enum the task context holds
        run_id="backfill__2026-11-25",
        data_interval_start=midnight,
        data_interval_end=midnight,
    )
    assert (batch["mode"], batch["objects"]) == ("replay", 1)
    assert [o["name"] for o in _manifest(bucket, batch)["objects"]] == ["archive/2026-11-25/b1/a.csv"]

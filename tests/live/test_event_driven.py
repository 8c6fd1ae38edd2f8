"""``ORDER_TRACKING_TRIGGER=events`` on a real scheduler and triggerer (issue 14).

The session's GCS emulator publishes Cloud Storage's ``OBJECT_FINALIZE`` notifications for the
staging prefix to a topic on the official Pub/Sub emulator (as ``make deploy-pubsub`` configures a
real bucket); the live Airflow's triggerer runs the DAG's ``AssetWatcher`` (the Google provider's
``PubsubPullTrigger``) on a subscription of it. A drop starts an asset-triggered run that loads
it; the same message delivered again starts a run that loads nothing twice; a burst of uploads is
batched into a handful of runs; an upload whose message is lost is loaded by the safety schedule.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.gcs_emulator import FinalizeNotifications
from local_stack.local_stack import LocalStack
from local_stack.polling import poll
from local_stack.samples import sample_objects
from order_tracking.compat import HAS_ASSET_WATCHERS
from tests.batches import expected_target
from tests.live.live_airflow import LiveAirflow, LiveSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.spark,
    pytest.mark.skipif(not HAS_ASSET_WATCHERS, reason="Airflow 3 only: asset watchers"),
]
STAGING = "staging_zn/"


@pytest.fixture(scope="module")
def finalize_topic(pubsub_emulator: Any, local_stack: LocalStack) -> Iterator[dict[str, str]]:
    """The topic the session's bucket notifies (staging prefix only), the Airflow subscription and
    a spy subscription of the test's own, for as long as this module runs."""
    publisher, subscriber = pubsub_emulator.clients()
    project, suffix = pubsub_emulator.project, uuid.uuid4().hex[:8]
    topic = publisher.create_topic(name=publisher.topic_path(project, f"live-finalize-{suffix}")).name
    names = {"topic": str(topic), "airflow": f"live-airflow-{suffix}", "spy": f"live-spy-{suffix}"}
    for role in ("airflow", "spy"):
        path = subscriber.subscription_path(project, names[role])
        subscriber.create_subscription(name=path, topic=topic, ack_deadline_seconds=30)
    local_stack.send_finalize_notifications(FinalizeNotifications(str(topic), publisher, STAGING))
    yield names
    local_stack.send_finalize_notifications(None)
    for role in ("airflow", "spy"):
        subscriber.delete_subscription(subscription=subscriber.subscription_path(project, names[role]))
    publisher.delete_topic(topic=topic)


@pytest.fixture
def live_airflow_settings(pubsub_emulator: Any, finalize_topic: dict[str, str]) -> LiveSettings:
    return LiveSettings(
        env={
            "ORDER_TRACKING_TRIGGER": "events",
            "ORDER_TRACKING_PUBSUB_PROJECT": pubsub_emulator.project,
            "ORDER_TRACKING_PUBSUB_SUBSCRIPTION": finalize_topic["airflow"],
            "ORDER_TRACKING_SAFETY_SCHEDULE": "none",  # only messages start runs here
            **pubsub_emulator.env,
        }
    )


def _new_run(live_airflow: LiveAirflow, known: set[str], timeout: float = 90) -> dict[str, Any]:
    def new() -> list[dict[str, Any]]:
        live_airflow.services.check_running()
        return [r for r in live_airflow.api.runs(live_airflow.dag_id) if r["dag_run_id"] not in known]

    (run,) = poll(new, until=bool, timeout=timeout, interval=0.5, what="a run started by a message")
    return run


def _spied(pubsub_emulator: Any, subscription: str, name: str) -> Any:
    """The notification the spy subscription got for object ``name`` (acknowledged)."""
    _, subscriber = pubsub_emulator.clients()
    path = subscriber.subscription_path(pubsub_emulator.project, subscription)

    def pull() -> list[Any]:
        answer = subscriber.pull(subscription=path, max_messages=10, timeout=10)
        if answer.received_messages:
            subscriber.acknowledge(subscription=path, ack_ids=[m.ack_id for m in answer.received_messages])
        return [m.message for m in answer.received_messages if m.message.attributes["objectId"] == name]

    (message,) = poll(pull, until=bool, timeout=30, interval=0.5, what=f"the notification of {name}")
    return message


def test_a_drop_starts_a_run_and_the_same_message_again_loads_nothing_twice(
    live_airflow: LiveAirflow, bucket: Any, spark: Any, pubsub_emulator: Any, finalize_topic: dict[str, str]
) -> None:
    files = sample_objects(objects=1, rows_per_object=30, parcels=20, bad_share=0.0)
    ((name, data),) = files.items()
    known = {r["dag_run_id"] for r in live_airflow.api.runs(live_airflow.dag_id)}
    dropped = time.monotonic()

    bucket.blob(f"{STAGING}{name}").upload_from_string(data, content_type="text/csv")

    run = _new_run(live_airflow, known)
    picked_up = time.monotonic() - dropped
    assert run["run_type"] == "asset_triggered"
    assert picked_up < 30, f"the run started {picked_up:.1f} s after the upload"
    live_airflow.api.wait_for_run(live_airflow.dag_id, run["dag_run_id"], timeout=300, expect="success")
    target_path = str(live_airflow.tables_root / "target_zn_new")
    target = spark.read.format("delta").load(target_path).collect()
    assert {r.tracking_num: (r.status, r.event_ts) for r in target} == expected_target(files)
    assert [
        b.name for b in bucket.client.list_blobs(bucket.name, prefix=STAGING) if b.name.endswith(name)
    ] == []
    version = spark.sql(f"DESCRIBE HISTORY delta.`{target_path}` LIMIT 1").collect()[0].version

    # Pub/Sub delivers at least once: the very notification arrives again.
    message = _spied(pubsub_emulator, finalize_topic["spy"], f"{STAGING}{name}")
    publisher, _ = pubsub_emulator.clients()
    known.add(run["dag_run_id"])
    publisher.publish(finalize_topic["topic"], message.data, **dict(message.attributes)).result(timeout=30)

    again = _new_run(live_airflow, known)
    live_airflow.api.wait_for_run(live_airflow.dag_id, again["dag_run_id"], timeout=300, expect="success")
    states = live_airflow.api.task_states(live_airflow.dag_id, again["dag_run_id"])
    assert states["stage_load"] == "skipped"  # nothing staged: nothing loaded twice
    assert spark.sql(f"DESCRIBE HISTORY delta.`{target_path}` LIMIT 1").collect()[0].version == version
    ledger = spark.read.format("delta").load(str(live_airflow.tables_root / "ledger_zn_new")).collect()
    assert [r.object_name for r in ledger].count(f"{STAGING}{name}") == 1


BURST = 100  # objects uploaded back to back; each one's notification is a message
HEADER = "tracking_num,order_id,carrier,status,event_ts,location,estimated_delivery_date\n"


def test_a_burst_of_uploads_is_batched_into_a_handful_of_runs_and_each_object_loads_once(
    live_airflow: LiveAirflow, bucket: Any, spark: Any
) -> None:
    """Each pull of the watcher (up to ``WATCHER_MAX_MESSAGES`` messages) is one asset event, runs
    never overlap (``max_active_runs=1``), and each run loads everything staged when it cuts."""
    known = {r["dag_run_id"] for r in live_airflow.api.runs(live_airflow.dag_id)}
    names = [f"{STAGING}burst_{i:03d}.csv" for i in range(BURST)]
    for i, name in enumerate(names):
        row = f"BURST{i:03d},OB{i},UPS,IN_TRANSIT,2026-12-01T10:00:00Z,,\n"
        bucket.blob(name).upload_from_string(HEADER + row, content_type="text/csv")

    def settled() -> list[dict[str, Any]] | None:
        live_airflow.services.check_running()
        runs = [r for r in live_airflow.api.runs(live_airflow.dag_id) if r["dag_run_id"] not in known]
        staged = {b.name for b in bucket.client.list_blobs(bucket.name, prefix=STAGING)}
        ended = runs and all(r["state"] in ("success", "failed") for r in runs)
        return runs if ended and not staged & set(names) else None

    runs = poll(settled, until=lambda r: r is not None, timeout=600, interval=2, what="the burst loaded")
    assert runs is not None

    assert {r["state"] for r in runs} == {"success"}
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    assert 1 <= len(runs) <= 5, [r["dag_run_id"] for r in runs]  # a handful, not one per upload
    ledger = spark.read.format("delta").load(str(live_airflow.tables_root / "ledger_zn_new")).collect()
    loaded = [r.object_name for r in ledger if r.object_name in set(names)]
    assert sorted(loaded) == names  # each object once
    target = spark.read.format("delta").load(str(live_airflow.tables_root / "target_zn_new"))
    assert target.where("tracking_num LIKE 'BURST%'").count() == BURST


def test_an_upload_whose_message_is_lost_is_loaded_by_the_safety_schedule(
    live_airflow_pool: Any,
    local_stack: LocalStack,
    pubsub_emulator: Any,
    finalize_topic: dict[str, str],
    bucket: Any,
    spark: Any,
) -> None:
    settings = LiveSettings(
        env={
            "ORDER_TRACKING_TRIGGER": "events",
            "ORDER_TRACKING_PUBSUB_PROJECT": pubsub_emulator.project,
            "ORDER_TRACKING_PUBSUB_SUBSCRIPTION": finalize_topic["airflow"],
            "ORDER_TRACKING_SAFETY_SCHEDULE": "* * * * *",  # every minute here; every 3 hours by default
            **pubsub_emulator.env,
        }
    )
    live_airflow = live_airflow_pool.get(settings)
    name = f"{STAGING}lost_message.csv"
    local_stack.send_finalize_notifications(None)  # the bucket's notification is lost
    try:
        bucket.blob(name).upload_from_string(HEADER + "LOST0001,OL1,UPS,DELIVERED,2026-12-01T11:00:00Z,,\n")
    finally:
        publisher, _ = pubsub_emulator.clients()
        notifications = FinalizeNotifications(finalize_topic["topic"], publisher, STAGING)
        local_stack.send_finalize_notifications(notifications)

    def archived() -> bool:  # the last step of the run that loads it (cut_batch claims it sooner)
        live_airflow.services.check_running()
        return any(b.name.endswith("/lost_message.csv") for b in bucket.list_blobs(prefix="archive/"))

    poll(archived, timeout=240, interval=2, what="the lost-message object loaded and archived")
    # this Airflow (started for these settings) has loaded nothing else: the run with a stage_load
    # is the one that loaded it (it may have started before the upload, its sensor still waiting)
    loading = [
        r
        for r in live_airflow.api.runs(live_airflow.dag_id)
        if live_airflow.api.task_states(live_airflow.dag_id, r["dag_run_id"]).get("stage_load") == "success"
    ]
    assert [r["run_type"] for r in loading] == ["scheduled"]  # no message: the safety run loaded it
    target = spark.read.format("delta").load(str(live_airflow.tables_root / "target_zn_new"))
    assert target.where("tracking_num = 'LOST0001'").count() == 1

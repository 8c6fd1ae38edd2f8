"""The DAG's watcher, in ``events`` mode, against the real local pieces: an upload through the GCS
emulator (configured as ``gcloud storage buckets notifications create`` would configure the bucket)
publishes Cloud Storage's notification to the official Pub/Sub emulator, and the very trigger the
DAG builds (``order_tracking.run_start``, the Google provider's ``PubsubPullTrigger``) pulls it in
this process as the triggerer would, yields one event and acknowledges what it pulled.

This shows the watcher's settings, the emulator and the notification fit together;
``tests/live/test_event_driven.py`` shows a real scheduler and triggerer starting runs from them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.airflow_env import free_port, google_connection
from local_stack.gcs_emulator import FinalizeNotifications, GcsEmulator, emulator_client
from local_stack.pubsub_emulator import PubSubEmulator
from order_tracking.compat import HAS_ASSET_WATCHERS
from order_tracking.config import PipelineConfig
from order_tracking.run_start import WATCHER_MAX_MESSAGES, run_start

pytestmark = pytest.mark.skipif(not HAS_ASSET_WATCHERS, reason="Airflow 3 only: asset watchers")

BUCKET = "tracking_orders"
PREFIX = "staging_zn/"


@pytest.fixture(scope="module")
def clients(pubsub_emulator: PubSubEmulator) -> tuple[Any, Any]:
    return pubsub_emulator.clients()


@pytest.fixture(scope="module")
def topic(pubsub_emulator: PubSubEmulator, clients: tuple[Any, Any]) -> str:
    publisher, _ = clients
    path = publisher.topic_path(pubsub_emulator.project, "watcher-staging-finalize")
    return str(publisher.create_topic(name=path).name)


@pytest.fixture(scope="module")
def notifying_bucket(topic: str, clients: tuple[Any, Any]) -> Iterator[Any]:
    publisher, _ = clients
    emulator = GcsEmulator(free_port(), BUCKET, notifications=FinalizeNotifications(topic, publisher, PREFIX))
    with emulator:
        yield emulator_client(emulator.url).bucket(BUCKET)


@pytest.fixture
def watcher(
    pubsub_emulator: PubSubEmulator, topic: str, clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str]]:
    """The DAG's watcher trigger on a fresh subscription of ``topic``, reaching the emulator through
    the same ``google_cloud_default`` connection the local stack gives Airflow; and that
    subscription's path."""
    _, subscriber = clients
    subscription = f"airflow-{uuid.uuid4().hex[:10]}"
    path = subscriber.subscription_path(pubsub_emulator.project, subscription)
    subscriber.create_subscription(name=path, topic=topic, ack_deadline_seconds=30)
    for name, value in pubsub_emulator.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(google_connection()))
    config = PipelineConfig.from_env(
        {
            "ORDER_TRACKING_TRIGGER": "events",
            "ORDER_TRACKING_PUBSUB_PROJECT": pubsub_emulator.project,
            "ORDER_TRACKING_PUBSUB_SUBSCRIPTION": subscription,
        }
    )
    (asset,) = run_start(config, "order_tracking_incremental_load").schedule.asset_condition.objects
    (asset_watcher,) = asset.watchers
    yield asset_watcher.trigger, path
    subscriber.delete_subscription(subscription=path)


def _next_event(trigger: Any, timeout: float = 30) -> Any:
    """The trigger's first event, as the triggerer would get it."""

    async def first() -> Any:
        return await asyncio.wait_for(trigger.run().__anext__(), timeout)

    return asyncio.run(first())


def test_an_upload_to_the_staging_prefix_wakes_the_watcher_once(
    notifying_bucket: Any, watcher: tuple[Any, str], clients: tuple[Any, Any]
) -> None:
    trigger, subscription = watcher
    names = [f"{PREFIX}orders-{n}.csv" for n in range(3)]
    for name in names:
        notifying_bucket.blob(name).upload_from_string(b"tracking_num,status\n1,ok\n")
    notifying_bucket.blob("archive/elsewhere.csv").upload_from_string(b"x\n")  # outside the prefix

    seen: list[str] = []
    ack_ids: list[str] = []
    events = 0
    while len(seen) < len(names) and events < len(names):
        event = _next_event(trigger)
        events += 1
        assert event.payload["status"] == "success"
        messages = event.payload["message"]
        assert 1 <= len(messages) <= WATCHER_MAX_MESSAGES
        seen += [m["message"]["attributes"]["objectId"] for m in messages]
        ack_ids += [m["ack_id"] for m in messages]
        assert {m["message"]["attributes"]["eventType"] for m in messages} == {"OBJECT_FINALIZE"}

    assert sorted(seen) == names  # each upload's notification once, nothing from outside the prefix
    # The watcher acknowledged what it pulled: handing the messages back (a zero ack deadline, what
    # a lost lease does) brings back none, so nothing wakes the DAG a second time.
    _, subscriber = clients
    subscriber.modify_ack_deadline(subscription=subscription, ack_ids=ack_ids, ack_deadline_seconds=0)
    left = subscriber.pull(subscription=subscription, max_messages=10, timeout=5, retry=None)
    assert list(left.received_messages) == []

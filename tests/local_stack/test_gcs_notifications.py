"""An upload through the GCS emulator yields exactly the Pub/Sub message Cloud Storage would send.

The emulator is configured as ``gcloud storage buckets notifications create gs://B
--event-types=OBJECT_FINALIZE --object-prefix=staging_zn/ --payload-format=json`` would configure
the bucket; the messages are read back with the official ``google-cloud-pubsub`` client from the
official emulator, and compared with the object as the official ``google-cloud-storage`` client
reads it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from local_stack.airflow_env import free_port
from local_stack.gcs_emulator import FinalizeNotifications, GcsEmulator, emulator_client
from local_stack.polling import poll
from local_stack.pubsub_emulator import PubSubEmulator

BUCKET = "tracking_orders"
PREFIX = "staging_zn/"
SENTINEL = PREFIX + "zz-sentinel"
RESUMABLE = 256 * 1024 + 1  # above the client's chunk size: the upload goes resumable


@pytest.fixture(scope="module")
def clients(pubsub_emulator: PubSubEmulator) -> tuple[Any, Any]:
    return pubsub_emulator.clients()


@pytest.fixture(scope="module")
def topic(pubsub_emulator: PubSubEmulator, clients: tuple[Any, Any]) -> str:
    publisher, _ = clients
    path = publisher.topic_path(pubsub_emulator.project, "gcs-staging-finalize")
    return str(publisher.create_topic(name=path).name)


@pytest.fixture(scope="module")
def notifying_bucket(topic: str, clients: tuple[Any, Any]) -> Iterator[Any]:
    """A GCS emulator of its own (the session's stays without notifications) sending to ``topic``."""
    publisher, _ = clients
    emulator = GcsEmulator(free_port(), BUCKET, notifications=FinalizeNotifications(topic, publisher, PREFIX))
    with emulator, pytest.MonkeyPatch.context() as env:
        env.setenv("STORAGE_EMULATOR_HOST", emulator.url)  # restored after the module
        yield emulator_client(emulator.url).bucket(BUCKET)


@pytest.fixture
def subscription(pubsub_emulator: PubSubEmulator, topic: str, clients: tuple[Any, Any]) -> Iterator[str]:
    """A fresh subscription: it sees only what this test publishes."""
    _, subscriber = clients
    path = subscriber.subscription_path(pubsub_emulator.project, f"s-{uuid.uuid4().hex[:10]}")
    yield str(subscriber.create_subscription(name=path, topic=topic, ack_deadline_seconds=30).name)
    subscriber.delete_subscription(subscription=path)


def _messages(subscriber: Any, subscription: str, bucket: Any) -> list[Any]:
    """Every message of the test, in publish order: an object uploaded last under the prefix marks
    the end (the emulator publishes before it answers the upload), and is left out."""
    bucket.blob(SENTINEL).upload_from_string(b"end")
    received: list[Any] = []

    def pull() -> list[Any]:
        response = subscriber.pull(subscription=subscription, max_messages=100, timeout=5, retry=None)
        if response.received_messages:
            ack_ids = [m.ack_id for m in response.received_messages]
            subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)
        received.extend(m.message for m in response.received_messages)
        return received

    poll(
        pull,
        until=lambda got: any(m.attributes["objectId"] == SENTINEL for m in got),
        timeout=30,
        interval=0.05,
        what="the sentinel's notification",
    )
    received.sort(key=lambda m: int(m.attributes["objectGeneration"]))
    return [m for m in received if m.attributes["objectId"] != SENTINEL]


def _expected_attributes(resource: dict[str, Any], overwrote: str | None = None) -> dict[str, str]:
    expected = {
        "notificationConfig": f"projects/_/buckets/{BUCKET}/notificationConfigs/1",
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": BUCKET,
        "objectId": resource["name"],
        "objectGeneration": resource["generation"],
        "eventTime": resource["updated"],
    }
    if overwrote is not None:
        expected["overwroteGeneration"] = overwrote
    return expected


def _resource(bucket: Any, name: str) -> dict[str, Any]:
    """The object's JSON API resource, as ``objects.get`` answers the official client."""
    blob = bucket.get_blob(name)
    assert blob is not None
    return dict(blob._properties)


def test_an_upload_under_the_prefix_yields_exactly_the_notification_gcs_sends(
    notifying_bucket: Any, subscription: str, clients: tuple[Any, Any]
) -> None:
    name = PREFIX + "orders 2026-11-30 (1).csv"
    notifying_bucket.blob(name).upload_from_string(b"tracking_num,status\n1,ok\n", content_type="text/csv")

    [message] = _messages(clients[1], subscription, notifying_bucket)

    resource = _resource(notifying_bucket, name)
    assert dict(message.attributes) == _expected_attributes(resource)
    payload = json.loads(message.data)
    assert payload == resource  # the JSON_API_V1 payload is the object resource
    assert (payload["kind"], payload["bucket"], payload["name"]) == ("storage#object", BUCKET, name)
    assert (payload["size"], payload["contentType"]) == ("25", "text/csv")
    assert isinstance(payload["generation"], str)  # int64 fields are JSON strings, as in Cloud Storage
    assert datetime.fromisoformat(message.attributes["eventTime"]).tzinfo is not None  # RFC 3339


def test_an_overwrite_names_the_generation_it_replaced(
    notifying_bucket: Any, subscription: str, clients: tuple[Any, Any]
) -> None:
    name = PREFIX + "overwritten.csv"
    blob = notifying_bucket.blob(name)
    blob.upload_from_string(b"first\n")
    first = blob.generation
    blob.upload_from_string(b"second\n")

    created, replaced = _messages(clients[1], subscription, notifying_bucket)

    assert created.attributes["objectGeneration"] == str(first)
    assert "overwroteGeneration" not in created.attributes
    resource = _resource(notifying_bucket, name)
    assert dict(replaced.attributes) == _expected_attributes(resource, overwrote=str(first))
    assert json.loads(replaced.data) == resource


def test_objects_outside_the_prefix_yield_none(
    notifying_bucket: Any, subscription: str, clients: tuple[Any, Any]
) -> None:
    outside = ("archive/a.csv", "staging_zn", "staging_zn.csv", "staging_zn_x/a.csv", "x/staging_zn/a.csv")
    for name in outside:
        notifying_bucket.blob(name).upload_from_string(b"x\n")

    assert _messages(clients[1], subscription, notifying_bucket) == []


def test_every_way_of_writing_an_object_is_a_finalize(
    notifying_bucket: Any, subscription: str, clients: tuple[Any, Any]
) -> None:
    source = notifying_bucket.blob("elsewhere/source.csv")
    source.upload_from_string(b"copied\n")  # outside the prefix: no message
    notifying_bucket.copy_blob(source, notifying_bucket, PREFIX + "copied.csv")
    notifying_bucket.blob(PREFIX + "rewritten.csv").rewrite(source)
    notifying_bucket.blob(PREFIX + "resumable.csv").upload_from_string(b"r" * RESUMABLE)
    notifying_bucket.blob(PREFIX + "sub/folder.csv").upload_from_string(b"s\n")  # a prefix, not a folder

    messages = _messages(clients[1], subscription, notifying_bucket)

    names = [PREFIX + leaf for leaf in ("copied.csv", "rewritten.csv", "resumable.csv", "sub/folder.csv")]
    assert [m.attributes["objectId"] for m in messages] == names
    for message, name in zip(messages, names, strict=True):
        assert dict(message.attributes) == _expected_attributes(_resource(notifying_bucket, name))
    assert json.loads(messages[2].data)["size"] == str(RESUMABLE)


def test_a_lost_notification_leaves_the_write_standing(
    pubsub_emulator: PubSubEmulator, clients: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    missing = clients[0].topic_path(pubsub_emulator.project, "no-such-topic")
    notifications = FinalizeNotifications(missing, clients[0], PREFIX)
    emulator = GcsEmulator(free_port(), BUCKET, notifications=notifications)
    with emulator, pytest.MonkeyPatch.context() as env:
        env.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        bucket = emulator_client(emulator.url).bucket(BUCKET)
        bucket.blob(PREFIX + "kept.csv").upload_from_string(b"kept\n")

        assert bucket.blob(PREFIX + "kept.csv").download_as_bytes() == b"kept\n"
    assert f"OBJECT_FINALIZE of gs://{BUCKET}/{PREFIX}kept.csv" in caplog.text
    assert missing in caplog.text

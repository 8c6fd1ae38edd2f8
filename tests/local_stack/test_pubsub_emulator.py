"""The official Pub/Sub emulator as the local stack runs it: started on loopback, answering the
official ``google-cloud-pubsub`` client, stopped with nothing left, and a clear refusal when it is
not installed."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import psutil
import pytest
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from local_stack.pubsub_emulator import PACKAGE, EmulatorMissingError, PubSubEmulator


@pytest.fixture
def emulator(pubsub_emulator: PubSubEmulator) -> PubSubEmulator:
    return pubsub_emulator


def _connects(host: str) -> bool:
    address, port = host.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((address, int(port))) == 0


def test_it_listens_on_loopback_only(emulator: PubSubEmulator) -> None:
    assert emulator.process is not None
    java = [emulator.process.pid] + [p.pid for p in psutil.Process(emulator.process.pid).children(True)]
    listening = [
        conn.laddr
        for pid in java
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    assert listening, "the emulator listens on no socket"
    # Java binds an IPv6 socket: 127.0.0.1 shows as the IPv4-mapped ::ffff:127.0.0.1.
    assert {addr.ip.removeprefix("::ffff:") for addr in listening} == {"127.0.0.1"}
    assert emulator.port in {addr.port for addr in listening}


def test_a_message_published_with_the_official_client_is_pulled_back(
    emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clients find the emulator the documented way: PUBSUB_EMULATOR_HOST.
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)
    publisher, subscriber = PublisherClient(), SubscriberClient()
    name = f"t-{uuid.uuid4().hex[:8]}"
    topic = publisher.create_topic(name=publisher.topic_path(emulator.project, name)).name
    subscription = subscriber.create_subscription(
        name=subscriber.subscription_path(emulator.project, name), topic=topic, ack_deadline_seconds=10
    ).name

    message_id = publisher.publish(topic, b"payload", objectId="staging_zn/a.csv").result(timeout=30)
    pulled = subscriber.pull(subscription=subscription, max_messages=10, timeout=30).received_messages

    assert [(m.message.message_id, m.message.data, dict(m.message.attributes)) for m in pulled] == [
        (message_id, b"payload", {"objectId": "staging_zn/a.csv"})
    ]
    subscriber.acknowledge(subscription=subscription, ack_ids=[pulled[0].ack_id])


def test_stop_leaves_no_process_and_frees_the_port() -> None:
    emulator = PubSubEmulator().start()
    assert emulator.process is not None
    root = psutil.Process(emulator.process.pid)
    tree = [root, *root.children(recursive=True)]
    assert _connects(emulator.host)

    emulator.stop()

    assert not [proc for proc in tree if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE]
    assert not _connects(emulator.host)
    emulator.stop()  # idempotent


def test_an_absent_emulator_fails_at_once_naming_the_package(tmp_path: Path) -> None:
    emulator = PubSubEmulator(sdk=tmp_path)  # a Cloud SDK without platform/pubsub-emulator

    with pytest.raises(EmulatorMissingError) as refused:
        emulator.start()

    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert PACKAGE in message
    assert f"apt-get install {PACKAGE}" in message
    assert emulator.process is None


def test_missing_java_is_named_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = tmp_path / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
    launcher.parent.mkdir(parents=True)
    launcher.write_text("#!/bin/sh\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    with pytest.raises(EmulatorMissingError, match="needs Java 17"):
        PubSubEmulator(sdk=tmp_path).start()

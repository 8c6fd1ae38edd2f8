"""Alerts reach a real SMTP server and a Slack-webhook-shaped server on loopback, through the notifiers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from order_tracking.alerts import deadline_missed, failure_notifiers, run_deadline_for, send_alert, sla_missed
from order_tracking.compat import DAG, RunDeadline
from order_tracking.config import PipelineConfig
from tests.live.receivers import SlackInbox, SmtpInbox


@pytest.fixture(scope="module")
def inboxes() -> Iterator[tuple[SmtpInbox, SlackInbox]]:
    smtp, slack = SmtpInbox().start(), SlackInbox().start()
    yield smtp, slack
    smtp.stop()
    slack.stop()


@pytest.fixture
def connections(inboxes: tuple[SmtpInbox, SlackInbox], monkeypatch: pytest.MonkeyPatch) -> None:
    smtp, slack = inboxes
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp.connection()))
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_DEFAULT", json.dumps(slack.connection()))


@pytest.mark.usefixtures("connections")
def test_the_deadline_callback_mails_and_posts_the_run(inboxes: tuple[SmtpInbox, SlackInbox]) -> None:
    smtp, slack = inboxes
    context = {
        "dag_run": {"dag_run_id": "scheduled__deadline_unit", "queued_at": "2026-11-26T10:00:00+00:00"}
    }
    sent = asyncio.run(
        deadline_missed(
            context,
            dag_id="order_tracking_incremental_load",
            deadline_seconds=7200,
            emails=["oncall@example.test"],
            smtp_conn_id="smtp_default",
            slack_conn_id="slack_default",
        )
    )
    assert sent == 2
    mail = smtp.wait_for_mail(lambda m: "scheduled__deadline_unit" in m.subject, timeout=30)
    assert mail.subject.startswith("[order-tracking] DEADLINE MISSED order_tracking_incremental_load")
    assert mail.rcpt_tos == ("oncall@example.test",)
    assert "2:00:00" in mail.body
    post = slack.wait_for_post(lambda p: "scheduled__deadline_unit" in p.text, timeout=30)
    assert post.path == "/services/T000/B000/XXXX"


@pytest.mark.usefixtures("connections")
def test_the_sla_miss_callback_mails_and_posts_the_runs(inboxes: tuple[SmtpInbox, SlackInbox]) -> None:
    """Airflow 2's ``sla_miss_callback``, called as the DAG processor calls it (positional
    ``dag, task_list, blocking_task_list, slas, blocking_tis``): the same subject and channels as the
    Airflow 3 deadline. The rows are stand-ins with the fields the callback reads (``SlaMiss`` and
    ``TaskInstance`` exist on Airflow 2 only)."""
    smtp, slack = inboxes
    dag = DAG(dag_id="order_tracking_incremental_load", schedule=None)
    slas = [SimpleNamespace(task_id="merge", execution_date="2026-11-26T09:00:00+00:00")]
    blocking = [SimpleNamespace(run_id="scheduled__sla_unit", task_id="merge")]
    sent = sla_missed(
        dag,
        "merge",
        "merge",
        slas,
        blocking,
        deadline_seconds=7200,
        emails=["oncall@example.test"],
        smtp_conn_id="smtp_default",
        slack_conn_id="slack_default",
    )
    assert sent == 2
    mail = smtp.wait_for_mail(lambda m: "scheduled__sla_unit" in m.subject, timeout=30)
    expected = "[order-tracking] DEADLINE MISSED order_tracking_incremental_load run scheduled__sla_unit"
    assert mail.subject == expected
    assert "2:00:00" in mail.body
    assert "merge" in mail.body
    slack.wait_for_post(lambda p: "scheduled__sla_unit" in p.text, timeout=30)


@pytest.mark.usefixtures("connections")
def test_a_failed_delivery_raises_instead_of_vanishing(monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": 9,
        "extra": {
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": "a@example.test",
            "timeout": 2,
            "retry_limit": 1,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DOWN", json.dumps(unreachable))
    with pytest.raises(ConnectionRefusedError):
        send_alert("s", "b", emails=["x@example.test"], smtp_conn_id="smtp_down", slack_conn_id="")


def test_channels_follow_the_configuration() -> None:
    off = PipelineConfig.from_env({})
    assert failure_notifiers(off) == []
    assert send_alert("s", "b", emails=[], smtp_conn_id="smtp_default", slack_conn_id="") == 0
    both = PipelineConfig.from_env(
        {"ORDER_TRACKING_ALERT_EMAILS": "a@example.test, b@example.test", "ORDER_TRACKING_SLACK_CONN_ID": "s"}
    )
    kinds = sorted(type(n).__name__ for n in failure_notifiers(both))
    assert kinds == ["SlackWebhookNotifier", "SmtpNotifier"]
    assert both.alert_recipients == ["a@example.test", "b@example.test"]
    off_deadline = PipelineConfig.from_env({"ORDER_TRACKING_RUN_DEADLINE_SECONDS": "0"})
    assert run_deadline_for(off_deadline, "d") == RunDeadline()

"""Alerts that reach on-call: task failures, a missed run deadline, and a stale feed.

Every alert goes through the providers' notifiers: email with ``SmtpNotifier`` to
``ORDER_TRACKING_ALERT_EMAILS`` over the ``ORDER_TRACKING_SMTP_CONN_ID`` connection, and Slack
with ``SlackWebhookNotifier`` over ``ORDER_TRACKING_SLACK_CONN_ID``; either is off when its
setting is empty. Subjects start with ``[order-tracking]`` and name the run, so a mail filter and a
human can both tell alerts apart.

The deadline callback runs in the triggerer, which imports it from this package (the plugins
folder is on its path; the dags folder is not). Its context holds only the DAG run and the
deadline: no task instance, no params.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from order_tracking.config import PipelineConfig

log = logging.getLogger(__name__)
SUBJECT_PREFIX = "[order-tracking]"

FAILURE_SUBJECT = SUBJECT_PREFIX + " FAILED {{ ti.dag_id }}.{{ ti.task_id }} in run {{ run_id }}"
FAILURE_BODY = (
    "Task <b>{{ ti.task_id }}</b> of run <b>{{ run_id }}</b> failed after {{ ti.try_number }} attempt(s)."
    "<br>Error: {{ exception }}<br>Log: {{ ti.log_url }}"
    "<br>What to do: see the README's section 'What each alert means', FAILED."
)
FAILURE_SLACK = (
    ":red_circle: order-tracking: task `{{ ti.task_id }}` failed in run `{{ run_id }}` "
    "after {{ ti.try_number }} attempt(s): {{ exception }} ({{ ti.log_url }})"
)


def failure_notifiers(config: PipelineConfig) -> list[Any]:
    """Task-level ``on_failure_callback``s: they fire once a task has used up its retries."""
    notifiers: list[Any] = []
    if config.alert_recipients:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers.append(
            SmtpNotifier(
                to=config.alert_recipients,
                subject=FAILURE_SUBJECT,
                html_content=FAILURE_BODY,
                smtp_conn_id=config.smtp_conn_id,
            )
        )
    if config.slack_conn_id:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        notifiers.append(SlackWebhookNotifier(slack_webhook_conn_id=config.slack_conn_id, text=FAILURE_SLACK))
    return notifiers


def send_alert(
    subject: str,
    body: str,
    *,
    emails: Sequence[str],
    smtp_conn_id: str,
    slack_conn_id: str,
    context: Any = None,
) -> int:
    """Send one alert through every configured channel; return how many channels took it.

    Unlike a notifier used as a callback, errors are raised, not logged and dropped: an alert that
    could not be sent must show up as a failed callback or task.
    """
    sent, context = 0, context or {}
    if emails:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        SmtpNotifier(to=list(emails), subject=subject, html_content=body, smtp_conn_id=smtp_conn_id).notify(
            context
        )
        sent += 1
    if slack_conn_id:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        SlackWebhookNotifier(slack_webhook_conn_id=slack_conn_id, text=f"{subject}\n{body}").notify(context)
        sent += 1
    if not sent:
        log.warning("alert not sent (no email recipients or Slack connection configured): %s", subject)
    return sent


def deadline_subject(dag_id: str, run_id: str) -> str:
    return f"{SUBJECT_PREFIX} DEADLINE MISSED {dag_id} run {run_id}"


async def deadline_missed(
    context: dict[str, Any] | None = None,
    *,
    dag_id: str,
    deadline_seconds: int,
    emails: list[str],
    smtp_conn_id: str,
    slack_conn_id: str,
) -> int:
    """Deadline callback (runs in the triggerer): the run is still going past its deadline."""
    dag_run = (context or {}).get("dag_run") or {}  # the REST API's DAGRunResponse, as JSON
    run_id = str(dag_run.get("dag_run_id") or dag_run.get("run_id") or "?")
    body = (
        f"Run <b>{run_id}</b> of {dag_id} was queued at {dag_run.get('queued_at', '?')} and is not finished "
        f"{timedelta(seconds=deadline_seconds)} later (state: {dag_run.get('state', '?')}). The target table "
        "is not fresh. What to do: see the README's section 'What each alert means', DEADLINE MISSED."
    )
    return await asyncio.to_thread(
        partial(
            send_alert,
            deadline_subject(dag_id, run_id),
            body,
            emails=emails,
            smtp_conn_id=smtp_conn_id,
            slack_conn_id=slack_conn_id,
        )
    )


def deadline_alerts(config: PipelineConfig, dag_id: str) -> list[DeadlineAlert]:
    """One deadline per run, counted from when the run was queued (every run type has that time).

    ``run_deadline_seconds`` <= 0 turns deadlines off: ``airflow dags test`` cannot run a DAG that
    has one (deadlines need the scheduler and triggerer anyway).
    """
    if config.run_deadline_seconds <= 0:
        return []
    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(seconds=config.run_deadline_seconds),
            callback=AsyncCallback(
                deadline_missed,
                kwargs={
                    "dag_id": dag_id,
                    "deadline_seconds": config.run_deadline_seconds,
                    "emails": config.alert_recipients,
                    "smtp_conn_id": config.smtp_conn_id,
                    "slack_conn_id": config.slack_conn_id,
                },
            ),
        )
    ]

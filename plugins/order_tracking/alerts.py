"""Alerts that reach on-call: task failures, a missed run deadline, and a stale feed.

Every alert goes through the providers' notifiers: email with ``SmtpNotifier`` to
``ORDER_TRACKING_ALERT_EMAILS`` over the ``ORDER_TRACKING_SMTP_CONN_ID`` connection, and Slack
with ``SlackWebhookNotifier`` over ``ORDER_TRACKING_SLACK_CONN_ID``; either is off when its
setting is empty. Subjects start with ``[order-tracking]`` and name the run, so a mail filter and a
human can both tell alerts apart.

The run deadline has one form per Airflow line (``order_tracking.compat.run_deadline``), and both
end in :func:`send_alert` with the same subject, ``[order-tracking] DEADLINE MISSED <dag> run <run>``:

- Airflow 3.1+: a Deadline Alert whose callback, :func:`deadline_missed`, runs in the triggerer,
  which imports it from this package (the plugins folder is on its path; the dags folder is not).
  Its context holds only the DAG run and the deadline: no task instance, no params.
- Airflow 2.11: task SLAs whose ``sla_miss_callback``, :func:`sla_missed`, the DAG processor calls
  with the missed SLAs and the task instances still blocking them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from order_tracking.compat import RunDeadline, notifier_context, run_deadline
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
    sent, context = 0, notifier_context(context)
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


def sla_missed(
    dag: Any,
    task_list: Any = None,
    blocking_task_list: Any = None,
    slas: Sequence[Any] = (),
    blocking_tis: Sequence[Any] = (),
    *,
    deadline_seconds: int,
    emails: Sequence[str],
    smtp_conn_id: str,
    slack_conn_id: str,
) -> int:
    """Airflow 2's ``sla_miss_callback`` (runs in the DAG processor): runs past their deadline.

    Airflow calls it with ``(dag, task_list, blocking_task_list, slas, blocking_tis)``: the missed
    SLAs (``SlaMiss`` rows: task id and logical date) and the task instances still not done. It
    sends one alert for all of them, through the same notifiers as the Airflow 3 deadline.
    """
    dag_id = str(getattr(dag, "dag_id", "?"))
    run_ids = sorted({str(ti.run_id) for ti in blocking_tis or () if getattr(ti, "run_id", None)})
    logical = sorted({str(getattr(sla, "execution_date", "?")) for sla in slas or ()})
    tasks = sorted({str(getattr(sla, "task_id", "?")) for sla in slas or ()})
    body = (
        f"Run(s) {', '.join(run_ids) or '?'} of {dag_id} (logical date(s) {', '.join(logical) or '?'}) "
        f"are not finished {timedelta(seconds=deadline_seconds)} after their data interval ended (SLA); "
        f"tasks past it: {', '.join(tasks) or '?'}. The target table is not fresh. What to do: see the "
        "README's section 'What each alert means', DEADLINE MISSED."
    )
    return send_alert(
        deadline_subject(dag_id, ", ".join(run_ids) or ", ".join(logical) or "?"),
        body,
        emails=emails,
        smtp_conn_id=smtp_conn_id,
        slack_conn_id=slack_conn_id,
        context={"dag": dag},
    )


def run_deadline_for(config: PipelineConfig, dag_id: str) -> RunDeadline:
    """The run deadline in this Airflow line's form (``compat.run_deadline``); off when
    ``run_deadline_seconds`` <= 0 (``airflow dags test`` cannot run a DAG that has a Deadline Alert;
    deadlines need the scheduler and triggerer anyway).

    Airflow 3.1+: counted from when the run was queued (every run type has that time). Airflow 2.11:
    from the end of the run's data interval, scheduled runs only (that is what SLAs measure).
    """
    if config.run_deadline_seconds <= 0:
        return run_deadline(None, deadline_callback=deadline_missed, callback_kwargs={}, sla_miss_callback=[])
    channels: dict[str, Any] = {
        "deadline_seconds": config.run_deadline_seconds,
        "emails": config.alert_recipients,
        "smtp_conn_id": config.smtp_conn_id,
        "slack_conn_id": config.slack_conn_id,
    }
    return run_deadline(
        timedelta(seconds=config.run_deadline_seconds),
        deadline_callback=deadline_missed,
        callback_kwargs={"dag_id": dag_id, **channels},
        sla_miss_callback=partial(sla_missed, **channels),
    )

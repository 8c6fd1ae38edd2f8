"""Airflow 2.11 on a live scheduler: the SLA path and a replayed day (issue 13).

Runs under ``make lane-e2e-airflow-2.11``: Airflow 2's scheduler and triggerer from the lane's venv
(:mod:`tests.live.airflow2`) on this session's emulator, runner and Spark. Under ``make test`` the
Airflow under test is 3.x, which has neither SLAs nor this backfill command, so these skip there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_stack.airflow_env import free_port
from local_stack.local_stack import LocalStack
from local_stack.polling import poll
from local_stack.runner_client import RunnerClient
from local_stack.samples import sample_objects
from tests.airflow_under_test import airflow_under_test
from tests.batches import expected_target
from tests.live.airflow2 import DAG_ID, Airflow2Services
from tests.live.live_airflow import ALERT_EMAIL, live_settings
from tests.live.receivers import SlackInbox, SmtpInbox

pytestmark = [
    pytest.mark.lane_e2e,
    pytest.mark.e2e,
    pytest.mark.spark,
    pytest.mark.skipif(
        not airflow_under_test().startswith("2."),
        reason="Airflow 2 only (SLAs, its own scheduler): make lane-e2e-airflow-2.11",
    ),
]
DEADLINE_SECONDS = 15

StartAirflow2 = Callable[..., Airflow2Services]


@pytest.fixture
def airflow2(
    local_stack: LocalStack,
    databricks: RunnerClient,  # the runner with its SparkSession up before Airflow submits runs
    airflow_python: str,
    smtp_inbox: SmtpInbox,
    slack_inbox: SlackInbox,
    tmp_path: Path,
) -> Iterator[StartAirflow2]:
    """Start Airflow 2 services (``airflow2("scheduler", "triggerer", SETTING=value)``) on own tables."""
    started: list[Airflow2Services] = []

    def start(*services: str, **settings: str) -> Airflow2Services:
        env = local_stack.env_for(
            tmp_path / "airflow2",
            free_port(),
            tmp_path / "tables",
            live_settings(smtp_inbox.connection(), slack_inbox.connection())
            | {"ORDER_TRACKING_RUN_DEADLINE_SECONDS": str(DEADLINE_SECONDS)}
            | {f"ORDER_TRACKING_{key}": value for key, value in settings.items()},
        )
        airflow = Airflow2Services(airflow_python, env, tmp_path / "airflow2", services)
        started.append(airflow)
        return airflow.start()

    start.tables = tmp_path / "tables"  # type: ignore[attr-defined]
    yield start
    for airflow in started:
        airflow.stop()


def test_a_run_past_its_sla_alerts_by_mail_and_slack_like_the_airflow_3_deadline(
    airflow2: StartAirflow2, smtp_inbox: SmtpInbox, slack_inbox: SlackInbox
) -> None:
    """Every minute a scheduled run waits on its sensor (nothing staged); Airflow 2's DAG processor
    records the SLA misses and calls the DAG's ``sla_miss_callback``, which alerts through the same
    notifiers and receivers as the Airflow 3 deadline test (tests/live/test_operations.py)."""
    airflow = airflow2("scheduler", "triggerer", SCHEDULE="* * * * *")

    mail = smtp_inbox.wait_for_mail(lambda m: "DEADLINE MISSED" in m.subject and DAG_ID in m.subject, 360)

    assert mail.subject.startswith(f"[order-tracking] DEADLINE MISSED {DAG_ID} run ")
    assert mail.rcpt_tos == (ALERT_EMAIL,)
    assert f"{timedelta(seconds=DEADLINE_SECONDS)} after their data interval ended (SLA)" in mail.body
    post = slack_inbox.wait_for_post(lambda p: p.text.startswith(mail.subject), 30)  # the same alert
    assert f"{timedelta(seconds=DEADLINE_SECONDS)} after their data interval ended (SLA)" in post.text
    misses = poll(
        lambda: airflow.query(
            "SELECT task_id, execution_date FROM sla_miss WHERE dag_id = ? AND notification_sent", DAG_ID
        ),
        timeout=30,
        interval=1,
        what="SLA misses marked notified",
    )
    body = mail.body.replace("T", " ")  # the mail's logical dates are ISO; SQLite's have a space
    in_mail = [m for m in misses if m["execution_date"][:16] in body]  # Airflow's rows for this mail
    assert in_mail
    assert all(m["task_id"] in mail.body for m in in_mail)
    assert {r["run_type"] for r in airflow.runs()} == {"scheduled"}


def test_a_replay_triggered_on_airflow_2_loads_the_archived_day_and_a_second_changes_nothing(
    airflow2: StartAirflow2, bucket: Any, spark: Any
) -> None:
    """Airflow 2's way to replay a day: a manual run with ``replay_date`` (the trigger form's field,
    here through ``airflow dags trigger``), run by the scheduler and the triggerer. Not ``airflow dags
    backfill``: on 2.10/2.11 its runner never expands our mapped ``move_objects`` and stops
    "deadlocked" after the merge (README, "What differs on Airflow 2.11")."""
    airflow = airflow2("scheduler", "triggerer")
    _wait_for_quiet(airflow)  # the scheduler's start-up run of the daily schedule (nothing staged)
    files = sample_objects(objects=2, rows_per_object=40, parcels=30, bad_share=0.0)
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    for name, data in files.items():
        bucket.blob(f"archive/{day}/scheduled__{day}/{name}").upload_from_string(data)
    archived = sorted(b.name for b in bucket.client.list_blobs(bucket.name, prefix="archive/"))
    target_path = str(airflow2.tables / "target_zn_new")  # type: ignore[attr-defined]

    run = _trigger_and_wait(airflow, {"replay_date": day})

    assert (run["run_type"], run["state"]) == ("manual", "success")
    target = spark.read.format("delta").load(target_path).collect()
    assert {r.tracking_num: (r.status, r.event_ts) for r in target} == expected_target(files)
    assert sorted(b.name for b in bucket.client.list_blobs(bucket.name, prefix="archive/")) == archived
    version = spark.sql(f"DESCRIBE HISTORY delta.`{target_path}` LIMIT 1").collect()[0].version

    again = _trigger_and_wait(airflow, {"replay_date": day})

    assert again["state"] == "success"
    assert spark.sql(f"DESCRIBE HISTORY delta.`{target_path}` LIMIT 1").collect()[0].version == version


def _wait_for_quiet(airflow: Airflow2Services, timeout: float = 180) -> None:
    """Every run the scheduler started has ended (or none started within 20 s)."""
    started = time.monotonic()

    def quiet(runs: list[dict[str, Any]]) -> bool:
        if not runs:
            return time.monotonic() - started > 20
        return all(r["state"] in ("success", "failed") for r in runs)

    poll(airflow.runs, until=quiet, timeout=timeout, interval=2, what="the start-up run ending")


def _trigger_and_wait(
    airflow: Airflow2Services, conf: dict[str, Any], timeout: float = 600
) -> dict[str, Any]:
    """``airflow dags trigger --conf ...``; the new run once it has ended."""
    known = {r["run_id"] for r in airflow.runs()}
    done = airflow.cli("dags", "trigger", "--conf", json.dumps(conf), DAG_ID, timeout=120)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    def ended() -> dict[str, Any] | None:
        airflow.check_running()
        new = [r for r in airflow.runs() if r["run_id"] not in known]
        return new[0] if new and new[0]["state"] in ("success", "failed") else None

    run = poll(ended, until=lambda r: r is not None, timeout=timeout, interval=2, what=f"the run of {conf}")
    assert run is not None
    return run

"""What on-call lives with, under a real scheduler, dag-processor and triggerer.

- a task that fails for good mails and posts to Slack, naming the task and the run;
- a run that outlives its deadline raises the deadline alert (``dag.test()`` never evaluates
  deadlines), and a run that finds nothing after a long silence raises the stale-feed alert;
- ``airflow backfill create`` replays the objects archived on the backfilled dates through stage
  and merge, can only repair the target, and changes nothing when run again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import tenacity

from local_stack.airflow_api import TERMINAL_RUN_STATES
from local_stack.polling import poll
from local_stack.samples import sample_objects
from tests.batches import expected_target
from tests.live.live_airflow import ALERT_EMAIL, LiveAirflow
from tests.live.receivers import SlackInbox, SmtpInbox
from tests.run_states import AFTER_THE_CUT, by_task, ending

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


def test_a_failed_task_alerts_by_mail_and_slack(
    live_airflow: LiveAirflow, bucket: Any, smtp_inbox: SmtpInbox, slack_inbox: SlackInbox
) -> None:
    run_id = live_airflow.trigger_and_wait({"objects": ["no_such_file.csv"]}, expect="failed")

    mail = smtp_inbox.wait_for_mail(lambda m: "FAILED" in m.subject and run_id in m.subject)
    assert mail.subject == f"[order-tracking] FAILED {live_airflow.dag_id}.cut_batch in run {run_id}"
    assert mail.rcpt_tos == (ALERT_EMAIL,)
    assert "objects not found" in mail.body
    assert "staging_zn/no_such_file.csv" in mail.body
    post = slack_inbox.wait_for_post(lambda p: run_id in p.text)
    assert "cut_batch" in post.text
    states = live_airflow.api.task_states(live_airflow.dag_id, run_id)
    assert states["cut_batch"] == "failed"  # a bad form is not retried
    assert states["start_cluster"] in ("upstream_failed", "skipped", None)


def test_a_missed_deadline_and_a_stale_feed_alert(
    live_airflow: LiveAirflow, bucket: Any, smtp_inbox: SmtpInbox
) -> None:
    """The run waits on its sensor (nothing staged) past the 15 s deadline, then finds the feed stale."""
    last_seen = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    heartbeat = {"last_batch_id": "long_ago", "last_cut_at": last_seen}
    bucket.blob("_state/feed_heartbeat.json").upload_from_string(json.dumps(heartbeat))
    started = time.monotonic()

    run_id = live_airflow.api.trigger(live_airflow.dag_id)

    mail = smtp_inbox.wait_for_mail(lambda m: "DEADLINE MISSED" in m.subject and run_id in m.subject, 90)
    assert time.monotonic() - started >= live_airflow.settings.run_deadline_seconds
    assert mail.subject == f"[order-tracking] DEADLINE MISSED {live_airflow.dag_id} run {run_id}"
    assert "0:00:15" in mail.body
    live_airflow.api.wait_for_run(live_airflow.dag_id, run_id, timeout=120)  # skipped tasks: success
    stale = smtp_inbox.wait_for_mail(lambda m: "STALE FEED" in m.subject and run_id in m.subject, 30)
    assert last_seen in stale.body
    states = by_task(live_airflow.api.task_states(live_airflow.dag_id, run_id))
    assert states["wait_for_objects"] == "skipped"
    # the sensor timed out (soft fail): nothing to load, only the feed check runs
    assert states == ending("wait_for_objects", "cut_batch", *AFTER_THE_CUT)


@tenacity.retry(
    retry=tenacity.retry_if_exception_message(match=r"(?s).*database is locked"),
    stop=tenacity.stop_after_attempt(4),
    wait=tenacity.wait_fixed(3),
    reraise=True,
)
def _backfill(live_airflow: LiveAirflow, day: str, *extra: str) -> None:
    """``airflow backfill create``; tried again if SQLite was locked by the scheduler at that moment."""
    command = ["airflow", "backfill", "create", "--dag-id", live_airflow.dag_id]
    command += ["--from-date", day, "--to-date", day, *extra]
    done = subprocess.run(
        [sys.executable, "-m", *command], env=live_airflow.env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def _backfill_runs(live_airflow: LiveAirflow) -> list[dict[str, Any]]:
    return [r for r in live_airflow.api.runs(live_airflow.dag_id) if r["run_type"] == "backfill"]


def _wait_backfill_runs(live_airflow: LiveAirflow, count: int, timeout: float = 600) -> list[dict[str, Any]]:
    runs = poll(
        lambda: _backfill_runs(live_airflow),
        until=lambda runs: len(runs) >= count and all(r["state"] in TERMINAL_RUN_STATES for r in runs),
        timeout=timeout,
        interval=2,
        what=f"{count} backfill run(s) ending",
    )
    for run in runs:
        live_airflow.api.wait_for_run(live_airflow.dag_id, run["dag_run_id"], timeout=5)
    return runs


def _wait_backfills_completed(live_airflow: LiveAirflow, timeout: float = 120) -> None:
    """The scheduler marks a backfill completed just after its last run ends; only then may another start."""
    poll(
        lambda: live_airflow.api.backfills(live_airflow.dag_id),
        until=lambda backfills: bool(backfills) and all(b["completed_at"] for b in backfills),
        timeout=timeout,
        interval=2,
        what="the backfill marked completed",
    )


def _wait_rerun(live_airflow: LiveAirflow, run: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """The same backfill run (same run id) run again: wait until it has ended a second time."""
    again = poll(
        lambda: [
            r
            for r in _backfill_runs(live_airflow)
            if r["end_date"] != run["end_date"] and r["state"] in TERMINAL_RUN_STATES
        ],
        timeout=timeout,
        interval=2,
        what="the backfill run again",
    )
    return again[0]


def test_a_backfill_replays_the_archived_day_and_only_repairs(
    live_airflow: LiveAirflow, bucket: Any, spark: Any
) -> None:
    files = sample_objects(objects=3, rows_per_object=40, parcels=30, bad_share=0.0)
    newest = max(files)  # the latest events, loaded first by a manual run
    bucket.blob(f"staging_zn/{newest}").upload_from_string(files[newest])
    live_airflow.trigger_and_wait({"objects": [newest]})
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    older = {name: data for name, data in files.items() if name != newest}
    for name, data in older.items():  # archived "yesterday"; never loaded
        bucket.blob(f"archive/{day}/scheduled__{day}/{name}").upload_from_string(data)
    archived = sorted(b.name for b in bucket.client.list_blobs(bucket.name, prefix="archive/"))
    target_path = str(live_airflow.tables_root / "target_zn_new")

    _backfill(live_airflow, day)
    (run,) = _wait_backfill_runs(live_airflow, 1)

    assert run["state"] == "success"
    target = spark.read.format("delta").load(target_path).collect()
    assert {r.tracking_num: (r.status, r.event_ts) for r in target} == expected_target(files)  # older
    # files were merged after the newest one and rolled nothing back
    assert sorted(b.name for b in bucket.client.list_blobs(bucket.name, prefix="archive/")) == archived
    version = spark.sql(f"DESCRIBE HISTORY delta.`{target_path}` LIMIT 1").collect()[0].version

    _wait_backfills_completed(live_airflow)
    _backfill(live_airflow, day, "--reprocess-behavior", "completed")  # the same backfill again
    rerun = _wait_rerun(live_airflow, run)
    assert rerun["state"] == "success"
    assert spark.sql(f"DESCRIBE HISTORY delta.`{target_path}` LIMIT 1").collect()[0].version == version

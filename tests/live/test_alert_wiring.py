"""The live stack's ``smtp_default`` and ``slack_default`` connections reach the in-process receivers.

Alert tests wait for mail and Slack posts from the DAG's notifiers; this checks the wiring under
them with the providers' own hooks, in a process with the live services' environment, so a
missing alert can be blamed on the DAG rather than on the plumbing.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.live.live_airflow import ALERT_EMAIL, LiveAirflow
from tests.live.receivers import SlackInbox, SmtpInbox

pytestmark = [pytest.mark.e2e]

SEND = """
import sys
from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
from airflow.providers.smtp.hooks.smtp import SmtpHook

marker, to = sys.argv[1], sys.argv[2]
with SmtpHook() as smtp:
    smtp.send_email_smtp(to=to, subject=f"wiring {marker}", html_content=f"<p>ping {marker} \u00fc</p>")
SlackWebhookHook(slack_webhook_conn_id="slack_default").send_text(f"wiring {marker}")
"""


def test_connections_reach_the_receivers(
    live_airflow: LiveAirflow, smtp_inbox: SmtpInbox, slack_inbox: SlackInbox
) -> None:
    marker = uuid.uuid4().hex
    done = subprocess.run(
        [sys.executable, "-c", SEND, marker, ALERT_EMAIL],
        env=live_airflow.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    mail = smtp_inbox.wait_for_mail(lambda m: marker in m.subject, timeout=10)
    assert mail.rcpt_tos == (ALERT_EMAIL,)
    assert f"ping {marker} \u00fc" in mail.body  # decoded from the base64 transfer encoding
    post = slack_inbox.wait_for_post(lambda p: marker in p.body, timeout=10)
    assert post.path == "/services/T000/B000/XXXX"
    assert post.text == f"wiring {marker}"

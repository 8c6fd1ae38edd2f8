"""The Airflow UI, as an operator uses it: log in, trigger the DAG through its form, watch the run succeed.

Headless Debian chromium driven by Playwright against the live stack (real api-server, scheduler,
triggerer, dag-processor). The form's ``dry_run`` switch is turned on, and the run's conf shows
that the form really carried it. A screenshot of the finished run is kept as a test artifact.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from local_stack.airflow_services import ADMIN_PASSWORD, ADMIN_USER
from local_stack.samples import HEADER
from tests.live.live_airflow import LiveAirflow

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
RUN_TIMEOUT_MS = 300_000
UI_SETTLE_TIMEOUT_MS = 60_000
CSV = (
    ",".join(HEADER)
    + "\n"
    + '1ZUI000001,ORD-UI-1,UPS,IN_TRANSIT,2026-11-26T10:00:00Z,"Austin, TX",2026-11-29\n'
)


def test_trigger_dry_run_from_the_ui_and_see_it_succeed(
    live_airflow: LiveAirflow, bucket: Any, page: Any, test_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    bucket.blob("staging_zn/ui_trigger_001.csv").upload_from_string(CSV, content_type="text/csv")
    started = time.monotonic()

    page.goto(live_airflow.url)  # the simple auth manager's login page
    page.locator("input[name=username]").fill(ADMIN_USER)
    page.locator("input[name=password]").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    page.goto(f"{live_airflow.url}/dags/{live_airflow.dag_id}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dry_run = dialog.locator('[id="switch:element_dry_run"]')
    dry_run.click()
    expect(dry_run).to_have_attribute("data-state", "checked")
    dialog.get_by_test_id("trigger-dag-submit").click()

    page.wait_for_url(re.compile(r"/runs/[^/]+$"))  # the UI opens the new run
    run_id = unquote(page.url.rsplit("/runs/", 1)[1])
    # The run header's badge: a bare "Success" text would also match task badges.
    badge = page.get_by_test_id("header-card").get_by_test_id("state-badge")
    try:
        expect(badge).to_have_text(re.compile(r"\b(Success|Failed)\b"), timeout=RUN_TIMEOUT_MS)
    except AssertionError:
        state = live_airflow.api.run_state(live_airflow.dag_id, run_id)
        pytest.fail(
            f"run header never showed an end state; REST says {state!r}\n{_evidence(live_airflow, run_id)}"
        )
    print(
        f"live stack started in {live_airflow.started_in_seconds} s; "
        f"UI flow, login to end-state badge: {time.monotonic() - started:.1f} s"
    )
    page.reload()  # the task table refreshes later than the header: show one consistent picture
    page.wait_for_load_state("networkidle")
    # After a reload the UI fetches its translations again; until they arrive the badge shows the
    # bare i18n key ("states.success"), which took over 5 s on a loaded CI machine.
    expect(badge).to_have_text(re.compile(r"\b(Success|Failed)\b"), timeout=UI_SETTLE_TIMEOUT_MS)
    page.screenshot(path=str(test_artifacts / "ui_trigger_dry_run.png"), full_page=True)

    assert "Success" in badge.inner_text(), _evidence(live_airflow, run_id)
    run = live_airflow.api.run(live_airflow.dag_id, run_id)
    assert run["state"] == "success"
    assert run["conf"].get("dry_run") is True, run["conf"]
    assert bucket.blob("staging_zn/ui_trigger_001.csv").exists()  # a dry run moves no object


def _evidence(live_airflow: LiveAirflow, run_id: str) -> str:
    return live_airflow.api.describe_run(live_airflow.dag_id, run_id)

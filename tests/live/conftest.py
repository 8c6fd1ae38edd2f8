"""Fixtures of the live tests: a real Airflow (four services), alert receivers and a headless browser.

Only tests under ``tests/live/`` start these. In one process they run last, so the live services
never compete with the Spark tests; under ``make test`` they are one work unit
(``tests/work_units.py``): one xdist worker starts them once while the other runs the rest.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.local_stack import LocalStack
from local_stack.runner_client import RunnerClient
from tests.live.live_airflow import LiveAirflow, LiveAirflowPool, LiveSettings, artifacts_dir
from tests.live.receivers import SlackInbox, SmtpInbox

LIVE_DIR = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, no Playwright browser download; flags checked on this kind of machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live: runs a real Airflow (api-server, scheduler, triggerer)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Live tests last (in one process): their services then run alone, after the Spark tests."""
    live = [item for item in items if LIVE_DIR in item.path.parents]
    for item in live:
        item.add_marker(pytest.mark.live)
    items[:] = [item for item in items if LIVE_DIR not in item.path.parents] + live


@pytest.fixture(scope="session")
def smtp_inbox() -> Iterator[SmtpInbox]:
    """Every mail the live Airflow sends through ``smtp_default``."""
    inbox = SmtpInbox().start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="session")
def slack_inbox() -> Iterator[SlackInbox]:
    """Every webhook POST the live Airflow sends through ``slack_default``."""
    inbox = SlackInbox().start()
    yield inbox
    inbox.stop()


@pytest.fixture(scope="session")
def live_airflow_pool(
    tmp_path_factory: pytest.TempPathFactory,
    local_stack: LocalStack,
    databricks: RunnerClient,  # the runner with its SparkSession up before Airflow submits runs
    smtp_inbox: SmtpInbox,
    slack_inbox: SlackInbox,
) -> Iterator[LiveAirflowPool]:
    """Starts live Airflows on demand, one at a time, on the session's LocalStack."""
    pool = LiveAirflowPool(
        tmp_path_factory.mktemp, local_stack, smtp_inbox.connection(), slack_inbox.connection()
    )
    yield pool
    pool.close()


@pytest.fixture
def live_airflow_settings() -> LiveSettings:
    """Override in a test module to choose the deadline or extra environment of its stack."""
    return LiveSettings()


@pytest.fixture
def live_airflow(live_airflow_pool: LiveAirflowPool, live_airflow_settings: LiveSettings) -> LiveAirflow:
    """The running live stack for these settings (started once, reused by every test asking the same)."""
    return live_airflow_pool.get(live_airflow_settings)


@pytest.fixture(scope="session")
def test_artifacts() -> Path:
    return artifacts_dir()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """Headless Debian chromium driven by Playwright (one browser per session)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install chromium (make prereqs, .ci/prereqs, does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium_browser: Any, request: pytest.FixtureRequest, test_artifacts: Path) -> Iterator[Any]:
    """A fresh browser context and page; on failure a screenshot ``<test>-failed.png`` is kept."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(test_artifacts / f"{request.node.name}-failed.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

"""How ``make test`` splits the suite between its pytest-xdist workers.

Each test is its own work unit, so the slow Spark and end-to-end tests spread over both workers,
except where tests share something expensive that each worker would otherwise build again: those
run as one unit, on one worker. xdist's own ``--dist loadgroup`` marks cannot say this under pytest
9 (it renames ``item._nodeid``, which pytest 9 no longer reads), so ``tests/conftest.py`` gives xdist
a scheduler (its ``pytest_xdist_make_scheduler`` hook) that asks :func:`work_unit`.
"""

from __future__ import annotations

from typing import Any

# node-id prefix -> work unit; a test in none of them is a unit of its own
SHARED: dict[str, str] = {
    "tests/live/": "live",  # the live Airflows, the alert receivers and the browser, started once
    "tests/deploy/": "deploy",  # the spark_tasks wheel, built once (tests/deploy/conftest.py)
    "tests/local_stack/test_pubsub_emulator.py": "pubsub",  # the Pub/Sub emulator, started once
    "tests/local_stack/test_gcs_notifications.py": "pubsub",
    "tests/local_stack/test_pubsub_watcher.py": "pubsub",
    "tests/spark_tasks/test_crash_recovery.py": "crash_recovery",  # seeded tables + clean reference
    "tests/dags/test_order_tracking_incremental_load.py": "dag_file",  # one DagBag
    "tests/plugins/test_alerts.py": "alerts",  # the SMTP and Slack receivers
    "tests/test_docker_compose.py": "docker_compose",  # the parsed compose file
}


def work_unit(nodeid: str) -> str:
    """The work unit of the test ``nodeid`` (``tests/...py::name[params]``)."""
    for prefix, unit in SHARED.items():
        if nodeid.startswith(prefix):
            return unit
    return nodeid


def make_scheduler(config: Any, log: Any) -> Any:
    """An xdist scheduler whose work units are :func:`work_unit`'s (for ``pytest_xdist_make_scheduler``).

    xdist's ``LoadScopeScheduling`` hands out one scope at a time, largest first; only how a test
    id maps to its scope changes.
    """
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)

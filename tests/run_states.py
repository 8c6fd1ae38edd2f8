"""The task states a DAG run ends with, path by path (``airflow dags test`` and the live Airflow alike)."""

from __future__ import annotations

from collections.abc import Mapping

TASKS = (
    "choose_source",
    "wait_for_objects",
    "cut_batch",
    "check_feed_freshness",
    "has_csv_objects",
    "start_cluster",
    "stage_load",
    "writes_enabled",
    "merge",
    "stop_cluster",
    "plan_moves",
    "move_objects",
    "report",
)
SPARK_STEPS = ("start_cluster", "stage_load", "writes_enabled", "merge", "stop_cluster")
AFTER_THE_CUT = ("has_csv_objects", *SPARK_STEPS, "plan_moves", "move_objects", "report")


def ending(*skipped: str) -> dict[str, str]:
    """Every task ``success`` but those ``skipped``."""
    unknown = set(skipped) - set(TASKS)
    assert not unknown, f"not tasks of the DAG: {unknown}"
    return {task: "skipped" if task in skipped else "success" for task in TASKS}


def by_task(states: Mapping[str, str | None]) -> dict[str, str | None]:
    """``{task_id: state}`` from ``{task_id or task_id[map_index]: state}``: a mapped task's
    instances count as one when they agree (``"a|b"`` when they do not)."""
    found: dict[str, set[str | None]] = {}
    for label, state in states.items():
        found.setdefault(label.split("[", 1)[0], set()).add(state)
    return {
        task: "|".join(sorted(map(str, seen))) if len(seen) > 1 else next(iter(seen))
        for task, seen in found.items()
    }

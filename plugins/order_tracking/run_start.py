"""What starts a run, for each ``ORDER_TRACKING_TRIGGER`` mode: the DAG's schedule and how long the
sensor waits (README, "Event-driven start").

- ``schedule`` (the default): ``ORDER_TRACKING_SCHEDULE`` (hourly), and the sensor waits up to
  ``SENSOR_TIMEOUT_SECONDS`` for an object, poking every ``SENSOR_POKE_SECONDS``.
- ``events`` (Airflow 3): an asset whose watcher pulls the staging bucket's ``OBJECT_FINALIZE``
  notifications from ``PUBSUB_PROJECT`` / ``PUBSUB_SUBSCRIPTION`` schedules the DAG, or'd with
  ``SAFETY_SCHEDULE`` (a cron, UTC) that catches what a lost message left behind. A message only
  wakes the DAG: ``cut_batch`` still cuts the batch from a listing of the staging prefix, and
  ``max_active_runs=1`` keeps merges from overlapping. The sensor checks at once and waits only
  :data:`EVENT_SENSOR_TIMEOUT_SECONDS`: a run a message woke finds its objects at the first check
  (Cloud Storage sends ``OBJECT_FINALIZE`` once the object is listed), and a run woken by a
  duplicate message, or a safety run with nothing to do, is skipped quickly (the sensor's
  soft-fail, as in schedule mode) instead of holding the DAG's one run slot for 50 minutes while
  newer messages queue behind it.

Building the schedule does no I/O: the watcher's trigger is only constructed here; it pulls in the
triggerer once the DAG is deployed and unpaused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from order_tracking.compat import (
    AIRFLOW_RELEASE,
    HAS_ASSET_WATCHERS,
    cron_problem,
    event_schedule,
    pubsub_watcher_trigger,
)
from order_tracking.config import TRIGGER_EVENTS, ConfigError, PipelineConfig

# Events mode: the sensor's one check and short wait (see the module docstring).
EVENT_SENSOR_POKE_SECONDS = 5
EVENT_SENSOR_TIMEOUT_SECONDS = 30
# The watcher: messages per pull (one asset event for all of them) and the pause after an empty pull.
WATCHER_MAX_MESSAGES = 100
WATCHER_POKE_SECONDS = 5.0
WATCHER_NAME = "staging_finalize_pubsub"


@dataclass(frozen=True)
class RunStart:
    """The DAG's ``schedule`` and its sensor's ``poke_interval`` / ``timeout`` (seconds)."""

    schedule: Any
    sensor_poke_seconds: int
    sensor_timeout_seconds: int


def staging_asset_name(dag_id: str) -> str:
    """The name of the asset that stands for "new objects under the staging prefix"."""
    return f"{dag_id}__staging_objects"


def check_schedules(config: PipelineConfig) -> None:
    """Refuse a ``SCHEDULE`` or ``SAFETY_SCHEDULE`` that Airflow's cron timetable refuses, whichever
    trigger is set (the one not in use today is the one a switch of trigger would use). The safety
    schedule is a cron timetable, so ``@once`` and ``@continuous`` are refused there too.

    The one check for the DAG (:func:`run_start`), the deploy commands and ``make run`` / ``make up``;
    the rule is Airflow's own (``compat.cron_problem``), the same on every Airflow line.

    Raises:
        ConfigError: naming ``ORDER_TRACKING_SCHEDULE`` or ``ORDER_TRACKING_SAFETY_SCHEDULE``.
    """
    for variable, value, cron, timetable_only in (
        ("ORDER_TRACKING_SCHEDULE", config.schedule, config.schedule_or_none, False),
        ("ORDER_TRACKING_SAFETY_SCHEDULE", config.safety_schedule, config.safety_schedule_or_none, True),
    ):
        if cron is not None and (problem := cron_problem(cron, timetable_only)):
            raise ConfigError(
                f"{variable} {value!r} is not a schedule Airflow accepts "
                f"(a cron expression or preset, or 'none'): {problem}",
                variable,
            )


def run_start(config: PipelineConfig, dag_id: str) -> RunStart:
    """How ``config.trigger`` starts ``dag_id``'s runs on this Airflow line.

    Raises:
        ConfigError: ``events`` on a line without asset watchers (Airflow 2.11), or a schedule or
            safety schedule Airflow refuses (:func:`check_schedules`); each names its variable.
    """
    if config.trigger == TRIGGER_EVENTS and not HAS_ASSET_WATCHERS:
        raise ConfigError(
            f"ORDER_TRACKING_TRIGGER=events needs asset watchers (Airflow 3), and this is Airflow "
            f"{AIRFLOW_RELEASE}: set ORDER_TRACKING_TRIGGER=schedule (ORDER_TRACKING_SCHEDULE and the "
            "sensor start the runs), or run on an Airflow 3.1+ image",
            "ORDER_TRACKING_TRIGGER",
        )
    check_schedules(config)
    if config.trigger != TRIGGER_EVENTS:
        return RunStart(config.schedule_or_none, config.sensor_poke_seconds, config.sensor_timeout_seconds)
    trigger = pubsub_watcher_trigger(
        project_id=config.pubsub_project,
        subscription=config.pubsub_subscription,
        gcp_conn_id=config.gcp_conn_id,
        max_messages=WATCHER_MAX_MESSAGES,
        poke_interval=WATCHER_POKE_SECONDS,
    )
    try:
        schedule = event_schedule(
            asset_name=staging_asset_name(dag_id),
            asset_uri=config.gcs_uri(config.staging_prefix),
            watcher_name=WATCHER_NAME,
            trigger=trigger,
            safety_cron=config.safety_schedule_or_none,
        )
    except ValueError as err:
        raise ConfigError(
            f"ORDER_TRACKING_SAFETY_SCHEDULE {config.safety_schedule!r} is not a schedule Airflow accepts "
            f"(a cron expression or preset, or 'none'): {err}",
            "ORDER_TRACKING_SAFETY_SCHEDULE",
        ) from err
    return RunStart(schedule, EVENT_SENSOR_POKE_SECONDS, EVENT_SENSOR_TIMEOUT_SECONDS)

"""What starts a run in each ORDER_TRACKING_TRIGGER mode, on real Airflow of the line under test
(the lanes run this file too). The DAG's own schedule, as stored, is checked in tests/dags."""

from __future__ import annotations

import re
import warnings

import pytest

from order_tracking.compat import AIRFLOW_RELEASE, HAS_ASSET_WATCHERS
from order_tracking.config import ConfigError, PipelineConfig
from order_tracking.run_start import (
    EVENT_SENSOR_POKE_SECONDS,
    EVENT_SENSOR_TIMEOUT_SECONDS,
    WATCHER_NAME,
    run_start,
    staging_asset_name,
)

DAG_ID = "order_tracking_incremental_load"
EVENTS = {"ORDER_TRACKING_TRIGGER": "events", "ORDER_TRACKING_PUBSUB_PROJECT": "my-project"}


def test_schedule_mode_is_the_schedule_and_the_sensors_own_wait() -> None:
    config = PipelineConfig.from_env(
        {"ORDER_TRACKING_SENSOR_POKE_SECONDS": "7", "ORDER_TRACKING_SENSOR_TIMEOUT_SECONDS": "600"}
    )
    start = run_start(config, DAG_ID)
    assert (start.schedule, start.sensor_poke_seconds, start.sensor_timeout_seconds) == ("@hourly", 7, 600)
    manual = run_start(PipelineConfig.from_env({"ORDER_TRACKING_SCHEDULE": "none"}), DAG_ID)
    assert manual.schedule is None


@pytest.mark.skipif(not HAS_ASSET_WATCHERS, reason="Airflow 3 only: asset watchers")
def test_events_mode_watches_the_subscription_with_an_event_trigger() -> None:
    """The watcher's trigger is a ``BaseEventTrigger`` (what an ``AssetWatcher`` takes) that pulls
    the configured subscription and acknowledges what it pulls; built without the provider's
    deprecation warning where the provider takes ``return_immediately``; the sensor only checks."""
    from airflow.triggers.base import BaseEventTrigger

    config = PipelineConfig.from_env(EVENTS | {"ORDER_TRACKING_PUBSUB_SUBSCRIPTION": "staging-events"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = run_start(config, DAG_ID)
    assert [str(w.message) for w in caught if "return_immediately" in str(w.message)] == []
    assert (start.sensor_poke_seconds, start.sensor_timeout_seconds) == (
        EVENT_SENSOR_POKE_SECONDS,
        EVENT_SENSOR_TIMEOUT_SECONDS,
    )
    (asset,) = start.schedule.asset_condition.objects  # AssetAll(asset)
    assert asset.name == staging_asset_name(DAG_ID)
    (watcher,) = asset.watchers
    assert watcher.name == WATCHER_NAME
    assert isinstance(watcher.trigger, BaseEventTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "airflow.providers.google.cloud.triggers.pubsub.PubsubPullTrigger"
    assert (kwargs["project_id"], kwargs["subscription"], kwargs["ack_messages"]) == (
        "my-project",
        "staging-events",
        True,
    )


@pytest.mark.parametrize("cron", ["61 * * * *", "every hour", "@fortnightly", "@hourly ", ""])
def test_a_schedule_airflow_refuses_is_refused_naming_the_variable(cron: str) -> None:
    """Refused when the DAG file is parsed, not at the scheduler's first next-run computation with
    an error that names no setting."""
    config = PipelineConfig.from_env({"ORDER_TRACKING_SCHEDULE": cron})
    with pytest.raises(
        ConfigError, match=re.escape(f"ORDER_TRACKING_SCHEDULE '{cron}' is not a schedule Airflow accepts")
    ) as refused:
        run_start(config, DAG_ID)
    assert refused.value.variable == "ORDER_TRACKING_SCHEDULE"


@pytest.mark.parametrize("schedule", ["@hourly", "*/1 * * * *", "0 */3 * * 1-5", "@once", "@continuous"])
def test_schedules_airflow_accepts_are_kept(schedule: str) -> None:
    assert (
        run_start(PipelineConfig.from_env({"ORDER_TRACKING_SCHEDULE": schedule}), DAG_ID).schedule == schedule
    )


@pytest.mark.skipif(not HAS_ASSET_WATCHERS, reason="Airflow 3 only: asset watchers")
@pytest.mark.parametrize("cron", ["61 * * * *", "every hour", "@fortnightly"])
def test_a_safety_schedule_airflow_refuses_is_refused_naming_the_variable(cron: str) -> None:
    config = PipelineConfig.from_env(EVENTS | {"ORDER_TRACKING_SAFETY_SCHEDULE": cron})
    with pytest.raises(
        ConfigError,
        match=re.escape(f"ORDER_TRACKING_SAFETY_SCHEDULE '{cron}' is not a schedule Airflow accepts"),
    ) as refused:
        run_start(config, DAG_ID)
    assert refused.value.variable == "ORDER_TRACKING_SAFETY_SCHEDULE"


@pytest.mark.parametrize("cron", ["61 * * * *", "every hour", "@once", "@continuous"])
def test_a_bad_safety_schedule_is_refused_in_schedule_mode_too(cron: str) -> None:
    """The schedule not in use is checked as well: switching the trigger must not reveal it."""
    config = PipelineConfig.from_env({"ORDER_TRACKING_SAFETY_SCHEDULE": cron})
    with pytest.raises(ConfigError, match=re.escape(f"ORDER_TRACKING_SAFETY_SCHEDULE '{cron}'")) as refused:
        run_start(config, DAG_ID)
    assert refused.value.variable == "ORDER_TRACKING_SAFETY_SCHEDULE"


@pytest.mark.skipif(HAS_ASSET_WATCHERS, reason="Airflow 2.11 only: no asset watchers")
def test_events_mode_is_refused_where_there_are_no_asset_watchers() -> None:
    with pytest.raises(ConfigError) as refused:
        run_start(PipelineConfig.from_env(EVENTS), DAG_ID)
    assert refused.value.variable == "ORDER_TRACKING_TRIGGER"
    assert f"this is Airflow {AIRFLOW_RELEASE}: set ORDER_TRACKING_TRIGGER=schedule" in str(refused.value)

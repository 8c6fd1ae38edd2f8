"""Configuration defaults and environment overrides."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from batch_documents import TableNames
from order_tracking.config import ConfigError, PipelineConfig


def test_defaults_match_the_product() -> None:
    config = PipelineConfig.from_env({})
    assert (config.bucket, config.staging_prefix, config.archive_prefix) == (
        "tracking_orders",
        "staging_zn/",
        "archive/",
    )
    assert (config.stage_table, config.target_table) == ("stage_zn_new", "target_zn_new")
    assert config.cluster_spec["spark_version"].startswith("17.3.x")


def test_environment_overrides_typed_fields() -> None:
    config = PipelineConfig.from_env(
        {
            "ORDER_TRACKING_BUCKET": "other",
            "ORDER_TRACKING_MAX_OBJECTS_PER_RUN": "7",
            "ORDER_TRACKING_CLUSTER_SPEC": '{"spark_version": "x", "num_workers": 1}',
            "ORDER_TRACKING_SCHEDULE": "none",
        }
    )
    assert config.bucket == "other"
    assert config.max_objects_per_run == 7
    assert config.cluster_spec == {"spark_version": "x", "num_workers": 1}
    assert config.schedule_or_none is None


def test_the_tasks_get_the_configuration_as_json_and_read_it_back() -> None:
    """What the DAG hands its tasks (``to_dict``) is JSON and gives back the same configuration."""
    config = PipelineConfig.from_env(
        {
            "ORDER_TRACKING_TARGET_TABLE": "cat.sch.target",
            "ORDER_TRACKING_CLUSTER_SPEC": '{"spark_version": "17.3.x-scala2.13", "num_workers": 1}',
        }
    )
    given = json.loads(json.dumps(config.to_dict()))
    assert PipelineConfig.from_dict(given) == config
    assert config.tables == TableNames(target="cat.sch.target")
    with pytest.raises(ConfigError, match="unknown configuration keys: bukcet"):
        PipelineConfig.from_dict(given | {"bukcet": "x"})


def test_the_table_names_are_the_jobs_defaults() -> None:
    assert PipelineConfig().tables == TableNames()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STEP_TIMEOUT_SECONDS", "0", "ORDER_TRACKING_STEP_TIMEOUT_SECONDS must be a positive number, not 0"),
        ("SENSOR_POKE_SECONDS", "-5", "ORDER_TRACKING_SENSOR_POKE_SECONDS must be a positive number, not -5"),
        ("MAX_OBJECTS_PER_RUN", "0", "ORDER_TRACKING_MAX_OBJECTS_PER_RUN must be a positive number"),
        ("TASK_RETRIES", "-1", "ORDER_TRACKING_TASK_RETRIES must be 0 or more, not -1"),
        ("RUN_DEADLINE_SECONDS", "-1", "ORDER_TRACKING_RUN_DEADLINE_SECONDS must be 0 or more"),
        ("STEP_TIMEOUT_SECONDS", "abc", "ORDER_TRACKING_STEP_TIMEOUT_SECONDS cannot be read from 'abc'"),
        ("SCHEMA_POLICY", "merge", "ORDER_TRACKING_SCHEMA_POLICY must be one of add, rescue, fail"),
        ("STAGING_PREFIX", "staging_zn", "ORDER_TRACKING_STAGING_PREFIX must be a folder like 'staging_zn/'"),
        ("STATE_PREFIX", "_state", "ORDER_TRACKING_STATE_PREFIX must be a folder like"),
        ("ARCHIVE_PREFIX", "/archive/", "ORDER_TRACKING_ARCHIVE_PREFIX must be a folder like"),
        ("QUARANTINE_PREFIX", "/", "ORDER_TRACKING_QUARANTINE_PREFIX must be a folder like"),
        ("STAGING_PREFIX", "in[1]/", "ORDER_TRACKING_STAGING_PREFIX must not contain *?[]{}"),
        ("BUCKET", "", "ORDER_TRACKING_BUCKET must name the feed's bucket"),
        ("BUCKET", "gs://prod-bucket", "ORDER_TRACKING_BUCKET must be a bucket name alone"),
        ("BUCKET", "prod-bucket/in", "ORDER_TRACKING_BUCKET must be a bucket name alone"),
        ("BUCKET", "Prod_Bucket", "ORDER_TRACKING_BUCKET must be a bucket name alone"),
        ("STATE_PREFIX", "staging_zn/", "ORDER_TRACKING_STATE_PREFIX 'staging_zn/' is the same folder as"),
        ("STAGE_TABLE", "target_zn_new", "ORDER_TRACKING_TARGET_TABLE 'target_zn_new' is the same table as"),
        ("CLUSTER_SPEC", "{not json", "ORDER_TRACKING_CLUSTER_SPEC cannot be read from '{not json'"),
        ("CLUSTER_SPEC", '"17.3.x-scala2.13"', "must be a JSON object with a spark_version"),
        ("CLUSTER_SPEC", '{"num_workers": 2}', "must be a JSON object with a spark_version"),
        ("CLUSTER_SPEC", '{"spark_version": "17.3.x-scala2.13", "custom_tags": null}', "custom_tags must be"),
        (
            "CLUSTER_SPEC",
            '{"spark_version": "17.3.x-scala2.13", "custom_tags": {"a": 1}}',
            "custom_tags must be",
        ),
    ],
)
def test_a_setting_the_pipeline_cannot_run_with_fails_the_parse_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    """Caught when the DAG file is parsed (an import error), not after a run has claimed objects."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        PipelineConfig.from_env({f"ORDER_TRACKING_{variable}": value})


FOLDERS = ["STAGING_PREFIX", "ARCHIVE_PREFIX", "QUARANTINE_PREFIX", "BATCHES_PREFIX", "STATE_PREFIX"]
TABLES = ["STAGE_TABLE", "TARGET_TABLE", "REJECTS_TABLE", "LEDGER_TABLE", "AUDIT_TABLE"]


@pytest.mark.parametrize("inside", [False, True])
@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(FOLDERS, 2)))
def test_no_folder_is_another_or_inside_another(first: str, second: str, inside: bool) -> None:
    """The cut lists the staging prefix: a heartbeat, an archive or a batch folder in it would be
    taken for new objects (and the other way round)."""
    folder = "shared/"
    env = {f"ORDER_TRACKING_{first}": folder, f"ORDER_TRACKING_{second}": folder + ("sub/" if inside else "")}
    with pytest.raises(ConfigError, match="each must be its own folder") as raised:
        PipelineConfig.from_env(env)
    assert {raised.value.variable} <= {f"ORDER_TRACKING_{first}", f"ORDER_TRACKING_{second}"}


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(TABLES, 2)))
def test_no_table_does_two_jobs(first: str, second: str) -> None:
    env = {f"ORDER_TRACKING_{first}": "cat.sch.one", f"ORDER_TRACKING_{second}": "cat.sch.one"}
    with pytest.raises(ConfigError, match="each must be its own table"):
        PipelineConfig.from_env(env)


def test_folders_that_only_share_a_beginning_are_apart() -> None:
    config = PipelineConfig.from_env(
        {"ORDER_TRACKING_STAGING_PREFIX": "in/", "ORDER_TRACKING_ARCHIVE_PREFIX": "in_archive/"}
    )
    assert (config.staging_prefix, config.archive_prefix) == ("in/", "in_archive/")


def test_zero_turns_the_deadline_and_the_retries_off() -> None:
    config = PipelineConfig.from_env(
        {"ORDER_TRACKING_RUN_DEADLINE_SECONDS": "0", "ORDER_TRACKING_TASK_RETRIES": "0"}
    )
    assert (config.run_deadline_seconds, config.task_retries) == (0, 0)


def test_runs_start_on_the_schedule_unless_events_are_asked_for() -> None:
    """The default trigger is ``schedule`` (README, "Event-driven start": events need the Pub/Sub
    setup and a project, and Airflow 2.11 cannot do them); the subscription is the one
    ``make deploy-pubsub`` creates, and the safety schedule runs every 3 hours."""
    from deploy.pubsub_notifications import DEFAULT_SUBSCRIPTION

    config = PipelineConfig.from_env({})
    assert config.trigger == "schedule"
    assert config.pubsub_subscription == DEFAULT_SUBSCRIPTION == "order-tracking-staging-finalize-airflow"
    assert (config.pubsub_project, config.safety_schedule) == ("", "0 */3 * * *")
    assert config.safety_schedule_or_none == "0 */3 * * *"


def test_events_read_the_subscription_of_the_named_project() -> None:
    config = PipelineConfig.from_env(
        {
            "ORDER_TRACKING_TRIGGER": "events",
            "ORDER_TRACKING_PUBSUB_PROJECT": "my-project",
            "ORDER_TRACKING_PUBSUB_SUBSCRIPTION": "staging-events",
            "ORDER_TRACKING_SAFETY_SCHEDULE": "None",
        }
    )
    assert (config.trigger, config.pubsub_project, config.pubsub_subscription) == (
        "events",
        "my-project",
        "staging-events",
    )
    assert config.safety_schedule_or_none is None
    assert PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    ("settings", "variable", "message"),
    [
        ({"TRIGGER": "event"}, "TRIGGER", "ORDER_TRACKING_TRIGGER must be one of schedule, events, not"),
        ({"TRIGGER": "Events"}, "TRIGGER", "must be one of schedule, events"),
        (
            {"TRIGGER": "events"},
            "PUBSUB_PROJECT",
            "ORDER_TRACKING_PUBSUB_PROJECT must name the project of the subscription "
            "'order-tracking-staging-finalize-airflow' when ORDER_TRACKING_TRIGGER is events",
        ),
        ({"PUBSUB_PROJECT": "projects/my-project"}, "PUBSUB_PROJECT", "must be a project ID like 'my-"),
        ({"PUBSUB_PROJECT": "my project"}, "PUBSUB_PROJECT", "must be a project ID like 'my-project'"),
        (
            {"PUBSUB_SUBSCRIPTION": "projects/p/subscriptions/s"},
            "PUBSUB_SUBSCRIPTION",
            "must be the subscription's ID alone (like 'order-tracking-staging-finalize-airflow'), not the "
            "path 'projects/p/subscriptions/s': the project goes in ORDER_TRACKING_PUBSUB_PROJECT",
        ),
        ({"PUBSUB_SUBSCRIPTION": "goog-sub"}, "PUBSUB_SUBSCRIPTION", "must be a Pub/Sub subscription ID"),
        ({"PUBSUB_SUBSCRIPTION": "ab"}, "PUBSUB_SUBSCRIPTION", "must be a Pub/Sub subscription ID"),
        ({"PUBSUB_SUBSCRIPTION": "1sub"}, "PUBSUB_SUBSCRIPTION", "must be a Pub/Sub subscription ID"),
        ({"SAFETY_SCHEDULE": " "}, "SAFETY_SCHEDULE", "must be a cron expression or preset, or 'none'"),
    ],
)
def test_a_trigger_setting_the_pipeline_cannot_run_with_is_refused_naming_the_variable(
    settings: dict[str, str], variable: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        PipelineConfig.from_env({f"ORDER_TRACKING_{name}": value for name, value in settings.items()})
    assert refused.value.variable == f"ORDER_TRACKING_{variable}"


def test_every_setting_is_in_the_readmes_configuration_table() -> None:
    """Each ``ORDER_TRACKING_<NAME>`` has a row (its first column names it) in README's
    "Configuration" table, where operators look a setting up."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("\n### Configuration\n", 1)[1].split("\n### ", 1)[0]
    first_columns = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = set(re.findall(r"`([A-Z0-9_]+)`", "\n".join(first_columns)))
    assert sorted(f.name.upper() for f in fields(PipelineConfig) if f.name.upper() not in documented) == []

"""Pipeline configuration, read from ``ORDER_TRACKING_*`` environment variables with defaults.

Environment variables are read when the DAG file is parsed: that costs no I/O and no metadata-DB
round trip (unlike Airflow Variables), and it is the only thing that differs between Composer and
the local stack apart from Airflow connections. The tasks get the configuration read then as an
argument (:meth:`PipelineConfig.to_dict`, a JSON-able mapping), not by reading the environment again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from batch_documents import SchemaPolicy, TableNames

ENV_PREFIX = "ORDER_TRACKING_"

# Databricks Runtime 17.3 LTS (Spark 4.0, Scala 2.13) on GCP, single-user (dedicated) access.
DEFAULT_CLUSTER_SPEC: dict[str, Any] = {
    "spark_version": "17.3.x-scala2.13",
    "node_type_id": "n2-highmem-4",
    "num_workers": 2,
    "data_security_mode": "SINGLE_USER",
    "spark_conf": {"spark.sql.session.timeZone": "UTC"},
    # The run's teardown deletes the cluster; this only stops one that Airflow lost track of.
    "autotermination_minutes": 30,
}
DEFAULT_TABLES = TableNames()


class ConfigError(ValueError):
    """A configuration the pipeline cannot run with: an unknown key, a value that is not a number
    where one is needed, a duration that is not positive, a cluster spec that is not a JSON object
    with a ``spark_version``. Raised when the DAG file is parsed, so a bad setting is an import
    error naming the variable, not a failure after objects were claimed. ``variable`` is the
    ``ORDER_TRACKING_*`` variable at fault, when there is one."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


# Durations and counts that must be positive (0 would mean "at once" or "never"); the run deadline
# and the retries may be 0 (no deadline, no retry).
_POSITIVE = (
    "max_objects_per_run",
    "sensor_poke_seconds",
    "sensor_timeout_seconds",
    "databricks_poll_seconds",
    "step_timeout_seconds",
    "retry_delay_seconds",
    "stale_feed_seconds",
)
_NOT_NEGATIVE = ("task_retries", "run_deadline_seconds")
_PREFIXES = ("staging_prefix", "archive_prefix", "quarantine_prefix", "batches_prefix", "state_prefix")
_TABLES = ("stage_table", "target_table", "rejects_table", "ledger_table", "audit_table")
# https://cloud.google.com/storage/docs/buckets#naming
_BUCKET_CHARACTERS = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?")
_DOTTED_DECIMAL = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_GLOB_CHARACTERS = frozenset("*?[]{}\\")
# What starts a run (README, "Event-driven start"): ``schedule``, the DAG's schedule and a sensor that
# waits for objects; ``events``, a Pub/Sub message about a new staging object (Airflow 3 only).
TRIGGER_SCHEDULE = "schedule"
TRIGGER_EVENTS = "events"
TRIGGERS = (TRIGGER_SCHEDULE, TRIGGER_EVENTS)
# The subscription ``make deploy-pubsub`` creates (deploy/pubsub_notifications.py, DEFAULT_SUBSCRIPTION).
DEFAULT_PUBSUB_SUBSCRIPTION = "order-tracking-staging-finalize-airflow"
# https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names (the rule deploy-pubsub applies)
_PUBSUB_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that names a place, a table, a connection or a compute spec."""

    bucket: str = "tracking_orders"
    staging_prefix: str = "staging_zn/"
    archive_prefix: str = "archive/"
    quarantine_prefix: str = "quarantine/"
    batches_prefix: str = "_batches/"
    state_prefix: str = "_state/"  # the feed heartbeat the stale-feed check reads
    stage_table: str = DEFAULT_TABLES.stage
    target_table: str = DEFAULT_TABLES.target
    rejects_table: str = DEFAULT_TABLES.rejects
    ledger_table: str = DEFAULT_TABLES.ledger
    audit_table: str = DEFAULT_TABLES.audit
    schema_policy: str = SchemaPolicy.ADD.value  # unknown columns: add | rescue | fail
    tables_root: str = ""  # empty: catalog tables on Databricks; a folder: path tables (local)
    gcp_conn_id: str = "google_cloud_default"
    databricks_conn_id: str = "databricks_default"
    wheel_uri: str = (
        "/Volumes/main/order_tracking/artifacts/order_tracking_spark_tasks-0.1.0-py3-none-any.whl"
    )
    cluster_spec: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_CLUSTER_SPEC))
    schedule: str = "@hourly"  # a cron expression or preset; "none" for manual/triggered runs only
    max_objects_per_run: int = 500
    sensor_poke_seconds: int = 60
    sensor_timeout_seconds: int = 50 * 60
    databricks_poll_seconds: int = 30
    step_timeout_seconds: int = 3600  # a Spark step still running this long is cancelled and retried
    task_retries: int = 3
    retry_delay_seconds: int = 30  # the first retry's delay; later ones back off exponentially
    run_deadline_seconds: int = 2 * 3600  # a run still going this long after it was queued alerts
    stale_feed_seconds: int = 6 * 3600  # no new object for this long alerts
    alert_emails: str = ""  # comma-separated recipients; empty: no email alerts
    smtp_conn_id: str = "smtp_default"
    slack_conn_id: str = ""  # a Slack incoming-webhook connection; empty: no Slack alerts
    # What starts a run: "schedule" (SCHEDULE, then the sensor waits) or "events" (a Pub/Sub message
    # on the subscription below, Airflow 3 only; SCHEDULE is then unused and SAFETY_SCHEDULE runs too).
    trigger: str = TRIGGER_SCHEDULE
    pubsub_project: str = ""  # the subscription's project; required with trigger "events"
    pubsub_subscription: str = DEFAULT_PUBSUB_SUBSCRIPTION  # its ID, not its projects/... path
    safety_schedule: str = "0 */3 * * *"  # events: a run that catches what a lost message left; "none"

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise _invalid(name, f"must be a positive number, not {getattr(self, name)}")
        for name in _NOT_NEGATIVE:
            if getattr(self, name) < 0:
                raise _invalid(name, f"must be 0 or more, not {getattr(self, name)}")
        if self.schema_policy not in {policy.value for policy in SchemaPolicy}:
            choices = ", ".join(policy.value for policy in SchemaPolicy)
            raise _invalid("schema_policy", f"must be one of {choices}, not {self.schema_policy!r}")
        if not self.bucket:
            raise _invalid("bucket", "must name the feed's bucket")
        if problem := bucket_name_problem(self.bucket):
            raise _invalid("bucket", f"must be a bucket name alone (like 'tracking_orders'): {problem}")
        for name in _PREFIXES:
            problem = (staging_prefix_problem if name == "staging_prefix" else folder_prefix_problem)(
                getattr(self, name)
            )
            if problem:
                raise _invalid(name, problem)
        self._check_apart(_PREFIXES, "folder", lambda a, b: a.startswith(b) or b.startswith(a))
        self._check_apart(_TABLES, "table", lambda a, b: a == b)
        self._check_trigger()
        spec = self.cluster_spec
        if not isinstance(spec, Mapping) or not isinstance(spec.get("spark_version"), str):
            raise _invalid("cluster_spec", "must be a JSON object with a spark_version")
        tags = spec.get("custom_tags", {})
        if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
            raise _invalid("cluster_spec", "custom_tags must be an object of strings")

    def _check_apart(self, names: tuple[str, ...], kind: str, clash: Callable[[str, str], bool]) -> None:
        """Refuse two of the ``names`` fields that ``clash``: one folder inside another (the cut would
        take the heartbeat or the archive for new objects), or one table doing two jobs."""
        for index, first in enumerate(names):
            for second in names[index + 1 :]:
                if clash(getattr(self, first), getattr(self, second)):
                    raise _invalid(
                        second,
                        f"{getattr(self, second)!r} is the same {kind} as, or inside, "
                        f"{_variable(first)} {getattr(self, first)!r}: each must be its own {kind}",
                    )

    def _check_trigger(self) -> None:
        """The trigger mode and the Pub/Sub subscription it reads. The safety schedule's cron is
        checked where its timetable is built (``order_tracking.run_start``), by Airflow's own rule."""
        if self.trigger not in TRIGGERS:
            raise _invalid("trigger", f"must be one of {', '.join(TRIGGERS)}, not {self.trigger!r}")
        subscription = self.pubsub_subscription
        if "/" in subscription:
            raise _invalid(
                "pubsub_subscription",
                f"must be the subscription's ID alone (like {DEFAULT_PUBSUB_SUBSCRIPTION!r}), not the path "
                f"{subscription!r}: the project goes in {_variable('pubsub_project')}",
            )
        if not _PUBSUB_ID.fullmatch(subscription) or subscription.lower().startswith("goog"):
            raise _invalid(
                "pubsub_subscription",
                f"must be a Pub/Sub subscription ID (3 to 255 characters: letters, digits, - _ . ~ + %, "
                f"starting with a letter, not with 'goog'), not {subscription!r}",
            )
        project = self.pubsub_project
        if set(project) & set("/ \t\n"):
            raise _invalid("pubsub_project", f"must be a project ID like 'my-project', not {project!r}")
        if self.trigger == TRIGGER_EVENTS and not project:
            raise _invalid(
                "pubsub_project",
                f"must name the project of the subscription {subscription!r} when "
                f"{_variable('trigger')} is {TRIGGER_EVENTS}",
            )
        if not self.safety_schedule.strip():
            raise _invalid("safety_schedule", "must be a cron expression or preset, or 'none'")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        """Defaults overridden by ``ORDER_TRACKING_<FIELD>`` (``CLUSTER_SPEC`` is JSON).

        Raises:
            ConfigError: a value that cannot be read or that the pipeline cannot run with.
        """
        env = os.environ if environ is None else environ
        overrides: dict[str, Any] = {}
        for name, default in cls.__dataclass_fields__.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            try:
                if name == "cluster_spec":
                    overrides[name] = json.loads(raw)
                elif isinstance(default.default, int):
                    overrides[name] = int(raw)
                else:
                    overrides[name] = raw
            except ValueError as err:
                raise _invalid(name, f"cannot be read from {raw!r}: {err}") from err
        return cls(**overrides)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able (``cluster_spec`` as a plain dict): what the DAG hands its tasks."""
        return asdict(self) | {"cluster_spec": json.loads(json.dumps(dict(self.cluster_spec)))}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PipelineConfig:
        """The configuration :meth:`to_dict` gave. Raises ConfigError on keys this class does not have."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
        return cls(**values)

    @property
    def tables(self) -> TableNames:
        return TableNames(
            stage=self.stage_table,
            target=self.target_table,
            rejects=self.rejects_table,
            ledger=self.ledger_table,
            audit=self.audit_table,
        )

    @property
    def alert_recipients(self) -> list[str]:
        return [address.strip() for address in self.alert_emails.split(",") if address.strip()]

    @property
    def schedule_or_none(self) -> str | None:
        return None if self.schedule.lower() == "none" else self.schedule

    @property
    def safety_schedule_or_none(self) -> str | None:
        return None if self.safety_schedule.lower() == "none" else self.safety_schedule

    def gcs_uri(self, name: str) -> str:
        return f"gs://{self.bucket}/{name}"


def _variable(name: str) -> str:
    """The environment variable that sets a field, as the README names it."""
    return ENV_PREFIX + name.upper()


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a Cloud Storage bucket name, or ``None`` if it is one.

    The rules of https://cloud.google.com/storage/docs/buckets#naming that can be checked offline
    (the "close misspellings" of "google" cannot).
    """
    dotted = "." in name
    checks = (
        (
            not _BUCKET_CHARACTERS.fullmatch(name),
            "a bucket name holds only lowercase letters, digits, '-', '_' and '.', "
            "and starts and ends with a letter or digit",
        ),
        (len(name) < 3, "a bucket name has at least 3 characters"),
        (not dotted and len(name) > 63, f"a bucket name has at most 63 characters, not {len(name)}"),
        (
            dotted and (len(name) > 222 or any(len(part) > 63 for part in name.split("."))),
            "a bucket name with dots has at most 222 characters, and at most 63 between dots",
        ),
        (bool(_DOTTED_DECIMAL.fullmatch(name)), "a bucket name is not an IP address"),
        (
            name.startswith("goog") or "google" in name,
            "a bucket name does not start with 'goog' or contain 'google'",
        ),
    )
    return next((problem for failed, problem in checks if failed), None)


def folder_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot be one of the pipeline's folders in the bucket, or ``None`` if it can.

    A folder ends in ``/`` and does not start with one (object names have no leading slash).
    """
    if not prefix.endswith("/") or prefix.startswith("/"):
        return f"must be a folder like 'staging_zn/' (ending in '/'), not {prefix!r}"
    return None


def staging_prefix_problem(prefix: str) -> str | None:
    """:func:`folder_prefix_problem`, and no glob character: the GCS sensor's ``matchGlob`` is the
    prefix followed by ``?*`` (``batch.direct_children_glob``), so ``*?[]{}\\`` in the prefix would
    match other folders' objects."""
    if problem := folder_prefix_problem(prefix):
        return problem
    if _GLOB_CHARACTERS & set(prefix):
        return "must not contain *?[]{}\\: the sensor matches it as a glob"
    return None


def _invalid(name: str, detail: str) -> ConfigError:
    """The error for field ``name``, naming the environment variable that sets it."""
    return ConfigError(f"{_variable(name)} {detail}", _variable(name))

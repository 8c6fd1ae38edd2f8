"""Pipeline configuration, read from ``ORDER_TRACKING_*`` environment variables with defaults.

Environment variables are read when the DAG file is parsed: that costs no I/O and no metadata-DB
round trip (unlike Airflow Variables), and it is the only thing that differs between Composer and
the local stack apart from Airflow connections.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that names a place, a table, a connection or a compute spec."""

    bucket: str = "tracking_orders"
    staging_prefix: str = "staging_zn/"
    archive_prefix: str = "archive/"
    quarantine_prefix: str = "quarantine/"
    batches_prefix: str = "_batches/"
    state_prefix: str = "_state/"  # the feed heartbeat the stale-feed check reads
    stage_table: str = "stage_zn_new"
    target_table: str = "target_zn_new"
    rejects_table: str = "rejects_zn_new"
    ledger_table: str = "ledger_zn_new"
    audit_table: str = "audit_zn_new"
    schema_policy: str = "add"  # unknown columns: add | rescue | fail
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        """Defaults overridden by ``ORDER_TRACKING_<FIELD>`` (``CLUSTER_SPEC`` is JSON)."""
        env = os.environ if environ is None else environ
        overrides: dict[str, Any] = {}
        for name, default in cls.__dataclass_fields__.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            if name == "cluster_spec":
                overrides[name] = json.loads(raw)
            elif isinstance(default.default, int):
                overrides[name] = int(raw)
            else:
                overrides[name] = raw
        return cls(**overrides)

    @property
    def alert_recipients(self) -> list[str]:
        return [address.strip() for address in self.alert_emails.split(",") if address.strip()]

    @property
    def schedule_or_none(self) -> str | None:
        return None if self.schedule.lower() == "none" else self.schedule

    def gcs_uri(self, name: str) -> str:
        return f"gs://{self.bucket}/{name}"

"""Order-tracking incremental load: staging CSV objects -> Delta stage -> Delta target, then archive.

choose_source -> wait_for_objects (sensor) -> cut_batch (claim by generation + manifest)
-> start_cluster (setup) -> stage_load (Databricks) -> merge (Databricks) -> stop_cluster (teardown)
-> plan_moves -> move_objects (batch copies to archive/ or quarantine/, by generation) -> report;
check_feed_freshness runs when there was nothing to load.

Trigger form: ``objects`` (load these staging objects), ``replay_date`` (load that day's archive
again), ``dry_run`` (validate and report, write nothing). Backfill runs replay what was archived in
their data interval. Configuration comes from ``ORDER_TRACKING_*`` environment variables (see
``order_tracking.config``), read once when this file is parsed and handed to the tasks as an
argument; credentials come from the Airflow connections it names. Parsing this file does no I/O.

Runs start on the schedule (``ORDER_TRACKING_TRIGGER=schedule``, the default) or, on Airflow 3, on
Pub/Sub notifications of new staging objects plus a safety schedule (``events``); either way the
batch is cut from a listing of the staging prefix (``order_tracking.run_start``).

Runs on Airflow 2.11 and 3.1+: what differs between them (import paths, the run deadline: a
Deadline Alert on 3.1+, an SLA on 2.11) comes from ``order_tracking.compat``.

Values travel between tasks as XComArgs: the Spark steps' payloads take the batch's manifest URI
(``batch["manifest_uri"]``) and the run's cluster (``start_cluster``'s output), which the operator
resolves when it renders its templated ``json`` field.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

from order_tracking.alerts import failure_notifiers, run_deadline_for
from order_tracking.batch import direct_children_glob
from order_tracking.cluster import start_cluster, stop_cluster
from order_tracking.compat import DAG, chain, literal
from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import MERGE, STAGE_LOAD, submit_run_payload
from order_tracking.databricks_submit import IdempotentSubmitRunOperator
from order_tracking.moves import MoveObjectGenerationsOperator
from order_tracking.run_modes import dag_params
from order_tracking.run_start import run_start
from order_tracking.tasks import (
    SENSOR_TASK_ID,
    check_feed_freshness,
    choose_source,
    cut_batch,
    has_csv_objects,
    plan_moves,
    report,
    writes_enabled,
)

DAG_ID = "order_tracking_incremental_load"
config = PipelineConfig.from_env()
# What the tasks get as their pipeline_config: the configuration read now, JSON-able, and never
# rendered as a Jinja template (a cluster spec may hold Databricks' own {{secrets/<scope>/<key>}}).
settings = literal(config.to_dict())
deadline = run_deadline_for(config, DAG_ID)  # a Deadline Alert (Airflow 3.1+) or task SLAs (2.11)
# ORDER_TRACKING_TRIGGER: "schedule" (SCHEDULE, then the sensor waits) or "events" (a Pub/Sub message
# about a new staging object, or the safety schedule; the sensor then only checks): the schedule and
# the sensor's wait.
start = run_start(config, DAG_ID)

with DAG(
    dag_id=DAG_ID,
    description="Upsert parcel tracking events from GCS CSV drops into a Delta table on Databricks",
    schedule=start.schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # merges into the target never race
    tags=["order-tracking", "delta", "databricks", "gcs"],
    params=dag_params(),
    **deadline.dag_kwargs,
    default_args={
        "owner": "data-engineering",
        "retries": config.task_retries,
        "retry_delay": timedelta(seconds=config.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": failure_notifiers(config),
        **deadline.default_args,
    },
    doc_md=__doc__,
) as dag:
    source = choose_source()

    # An object directly under the staging prefix: not a "folder" placeholder, not a sub-folder.
    wait_for_objects = GCSObjectExistenceSensor(
        task_id=SENSOR_TASK_ID,
        bucket=config.bucket,
        object=direct_children_glob(config.staging_prefix),
        use_glob=True,
        google_cloud_conn_id=config.gcp_conn_id,
        deferrable=True,
        poke_interval=start.sensor_poke_seconds,
        timeout=start.sensor_timeout_seconds,
        soft_fail=True,  # nothing arrived: the run is skipped, not failed
    )

    batch = cut_batch(wait_for_objects.output, settings)
    cluster = start_cluster(batch, settings)

    stage_load = IdempotentSubmitRunOperator(
        task_id=STAGE_LOAD,
        databricks_conn_id=config.databricks_conn_id,
        json=submit_run_payload(config, STAGE_LOAD, batch["manifest_uri"], cluster),
        polling_period_seconds=config.databricks_poll_seconds,
        deferrable=True,
        execution_timeout=timedelta(seconds=config.step_timeout_seconds),  # the run is cancelled
    )

    merge = IdempotentSubmitRunOperator(
        task_id=MERGE,
        databricks_conn_id=config.databricks_conn_id,
        json=submit_run_payload(config, MERGE, batch["manifest_uri"], cluster),
        polling_period_seconds=config.databricks_poll_seconds,
        deferrable=True,
        execution_timeout=timedelta(seconds=config.step_timeout_seconds),  # the run is cancelled
    )

    moves = plan_moves(batch, settings)

    move_objects = MoveObjectGenerationsOperator.partial(
        task_id="move_objects",
        bucket=config.bucket,
        gcp_conn_id=config.gcp_conn_id,
        **deadline.mapped_task_kwargs,  # Airflow 2.11: no SLA on a mapped task
    ).expand_kwargs(moves)

    source >> [wait_for_objects, batch]
    batch >> check_feed_freshness(settings)
    chain(
        batch,
        has_csv_objects(batch),
        cluster,
        stage_load,
        writes_enabled(batch),
        merge,
        stop_cluster(cluster, settings),
    )
    chain(merge, moves, move_objects, report(batch, settings))

"""Order-tracking incremental load: staging CSV objects -> Delta stage -> Delta target, then archive.

sensor -> manifest (cut_batch) -> stage_load (Databricks) -> merge (Databricks) -> plan_moves
-> move_objects (archive/ or quarantine/, by exact name) -> report

Configuration comes from ``ORDER_TRACKING_*`` environment variables (see ``order_tracking.config``);
credentials come from the Airflow connections it names. Parsing this file does no I/O.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.providers.google.cloud.sensors.gcs import GCSObjectsWithPrefixExistenceSensor
from airflow.providers.google.cloud.transfers.gcs_to_gcs import GCSToGCSOperator
from airflow.sdk import DAG, chain

from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import MERGE, STAGE_LOAD, submit_run_payload
from order_tracking.tasks import cut_batch, plan_moves, report

config = PipelineConfig.from_env()
MANIFEST_URI = "{{ ti.xcom_pull(task_ids='cut_batch')['manifest_uri'] }}"

with DAG(
    dag_id="order_tracking_incremental_load",
    description="Upsert parcel tracking events from GCS CSV drops into a Delta table on Databricks",
    schedule=config.schedule_or_none,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["order-tracking", "delta", "databricks", "gcs"],
    default_args={
        "owner": "data-engineering",
        "retries": config.task_retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=1),
    },
    doc_md=__doc__,
) as dag:
    wait_for_objects = GCSObjectsWithPrefixExistenceSensor(
        task_id="wait_for_objects",
        bucket=config.bucket,
        prefix=config.staging_prefix,
        google_cloud_conn_id=config.gcp_conn_id,
        deferrable=True,
        poke_interval=config.sensor_poke_seconds,
        timeout=config.sensor_timeout_seconds,
        soft_fail=True,  # nothing arrived: the run is skipped, not failed
    )

    batch = cut_batch(wait_for_objects.output)

    stage_load = DatabricksSubmitRunOperator(
        task_id=STAGE_LOAD,
        databricks_conn_id=config.databricks_conn_id,
        json=submit_run_payload(config, STAGE_LOAD, MANIFEST_URI),
        polling_period_seconds=config.databricks_poll_seconds,
        deferrable=True,
    )

    merge = DatabricksSubmitRunOperator(
        task_id=MERGE,
        databricks_conn_id=config.databricks_conn_id,
        json=submit_run_payload(config, MERGE, MANIFEST_URI),
        polling_period_seconds=config.databricks_poll_seconds,
        deferrable=True,
    )

    moves = plan_moves(batch)

    move_objects = GCSToGCSOperator.partial(
        task_id="move_objects",
        source_bucket=config.bucket,
        destination_bucket=config.bucket,
        move_object=True,
        exact_match=True,
        gcp_conn_id=config.gcp_conn_id,
    ).expand_kwargs(moves)

    chain(wait_for_objects, batch, stage_load, merge, moves, move_objects, report(batch))

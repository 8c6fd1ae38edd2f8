"""The Databricks API payloads of a run: its one cluster, and the stage-load and merge steps on it."""

from __future__ import annotations

from typing import Any

from order_tracking.config import PipelineConfig

WHEEL_PACKAGE = "order-tracking-spark-tasks"
STAGE_LOAD = "stage_load"
MERGE = "merge"
START_CLUSTER = "start_cluster"
CLUSTER_ID = f"{{{{ ti.xcom_pull(task_ids='{START_CLUSTER}') }}}}"


def cluster_name(batch_id: str) -> str:
    return f"order-tracking {batch_id}"[:100]


def create_cluster_payload(
    config: PipelineConfig, dag_id: str, run_id: str, batch_id: str, token: str
) -> dict[str, Any]:
    """``clusters/create`` for the run's cluster; ``token`` makes a repeated request return the same one."""
    spec = dict(config.cluster_spec)
    tags = dict(spec.get("custom_tags", {}))
    tags |= {"pipeline": "order-tracking", "airflow_dag": dag_id, "airflow_batch": batch_id[:250]}
    return spec | {"cluster_name": cluster_name(batch_id), "custom_tags": tags, "idempotency_token": token}


def submit_run_payload(config: PipelineConfig, entry_point: str, manifest_uri: str) -> dict[str, Any]:
    """One single-task run executing ``entry_point`` of the spark_tasks wheel on the run's cluster.

    ``manifest_uri`` may be a Jinja template; the cluster id is one (from ``start_cluster``): the
    operator renders its ``json`` field.
    """
    parameters = [
        "--manifest",
        manifest_uri,
        "--stage-table",
        config.stage_table,
        "--target-table",
        config.target_table,
        "--rejects-table",
        config.rejects_table,
        "--ledger-table",
        config.ledger_table,
        "--audit-table",
        config.audit_table,
        "--schema-policy",
        config.schema_policy,
    ]
    if config.tables_root:
        parameters += ["--tables-root", config.tables_root]
    return {
        "run_name": f"order_tracking_{entry_point}",
        "tasks": [
            {
                "task_key": entry_point,
                "existing_cluster_id": CLUSTER_ID,
                "python_wheel_task": {
                    "package_name": WHEEL_PACKAGE,
                    "entry_point": entry_point,
                    "parameters": parameters,
                },
                "libraries": [{"whl": config.wheel_uri}],
            }
        ],
    }

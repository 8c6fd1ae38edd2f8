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

    The wheel gets **named parameters**, the Databricks convention for wheel tasks: Databricks
    passes them as ``--<key>=<value>``, which the jobs' argparse reads (``spark_tasks.cli``). It is
    also the only way to send one parameter field: the Jobs API 2.2 says to leave ``parameters``
    empty when ``named_parameters`` is set, and the Databricks provider (7.23) copies the DAG's
    params into ``named_parameters`` whenever that field is empty, so positional ``parameters``
    always left with a second field beside them.

    ``manifest_uri`` may be a Jinja template; the cluster id is one (from ``start_cluster``): the
    operator renders its ``json`` field.
    """
    named = {
        "manifest": manifest_uri,
        "stage_table": config.stage_table,
        "target_table": config.target_table,
        "rejects_table": config.rejects_table,
        "ledger_table": config.ledger_table,
        "audit_table": config.audit_table,
        "schema_policy": config.schema_policy,
    }
    if config.tables_root:
        named["tables_root"] = config.tables_root
    return {
        "run_name": f"order_tracking_{entry_point}",
        "tasks": [
            {
                "task_key": entry_point,
                "existing_cluster_id": CLUSTER_ID,
                "python_wheel_task": {
                    "package_name": WHEEL_PACKAGE,
                    "entry_point": entry_point,
                    "named_parameters": named,
                },
                "libraries": [{"whl": config.wheel_uri}],
            }
        ],
    }

"""The Databricks Jobs API ``runs/submit`` payloads of the stage-load and merge steps."""

from __future__ import annotations

from typing import Any

from order_tracking.config import PipelineConfig

WHEEL_PACKAGE = "order-tracking-spark-tasks"
STAGE_LOAD = "stage_load"
MERGE = "merge"


def submit_run_payload(config: PipelineConfig, entry_point: str, manifest_uri: str) -> dict[str, Any]:
    """One single-task run executing ``entry_point`` of the spark_tasks wheel on a job cluster.

    ``manifest_uri`` may be a Jinja template: the operator renders its ``json`` field.
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
                "new_cluster": dict(config.cluster_spec),
                "python_wheel_task": {
                    "package_name": WHEEL_PACKAGE,
                    "entry_point": entry_point,
                    "parameters": parameters,
                },
                "libraries": [{"whl": config.wheel_uri}],
            }
        ],
    }

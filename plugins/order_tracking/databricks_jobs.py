"""The Databricks API payloads of a run: its one cluster, and the stage-load and merge steps on it."""

from __future__ import annotations

import json
import re
from typing import Any

from order_tracking.batch import MANIFEST_NAME, MAX_BATCH_ID_LENGTH, batch_dir
from order_tracking.compat import XComArg
from order_tracking.config import PipelineConfig

WHEEL_PACKAGE = "order-tracking-spark-tasks"
STAGE_LOAD = "stage_load"
MERGE = "merge"
# A value of the payload known only when the run gets there (an upstream task's output): the
# operator resolves it when it renders its templated ``json`` field, before anything is sent.
Pending = str | XComArg
# Databricks ends a run on its own this long after the step's Airflow timeout: a backstop for a
# run whose Airflow task is gone; Airflow cancels the run first (see databricks_submit).
DATABRICKS_TIMEOUT_GRACE_SECONDS = 300
MAX_TASK_PARAMETERS_BYTES = 10_000  # Jobs API: a task's parameters, as JSON, at most 10,000 bytes


class PayloadError(ValueError):
    """A payload the Jobs API would refuse, found before anything is sent."""


_NOT_LABEL = re.compile(r"[^a-z0-9_-]+")
MAX_LABEL_LENGTH = 63


def cluster_name(batch_id: str) -> str:
    """The run's cluster name: the Clusters API takes at most 100 characters."""
    return f"order-tracking {batch_id}"[:100]


def gcp_label(value: str) -> str:
    """``value`` as a Google Cloud label value: lowercase letters, digits, ``_`` and ``-``, at most
    63 characters. Databricks on Google Cloud copies cluster tags to GKE and GCE labels, which
    follow these rules (cloud.google.com/resource-manager/docs/creating-managing-labels)."""
    return _NOT_LABEL.sub("-", value.lower())[:MAX_LABEL_LENGTH]


# Access modes in which one identity owns the cluster and must be named (``single_user_name``).
SINGLE_USER_MODES = frozenset({"SINGLE_USER", "DATA_SECURITY_MODE_DEDICATED"})


def needs_single_user(config: PipelineConfig) -> bool:
    """Whether the cluster spec asks for dedicated (single-user) access without naming the user."""
    spec = config.cluster_spec
    return spec.get("data_security_mode") in SINGLE_USER_MODES and not spec.get("single_user_name")


def create_cluster_payload(
    config: PipelineConfig,
    dag_id: str,
    run_id: str,
    batch_id: str,
    token: str,
    *,
    single_user: str | None = None,
) -> dict[str, Any]:
    """``clusters/create`` for the run's cluster; ``token`` makes a repeated request return the same one.

    The cluster name carries the batch id (its first 85 characters); the tags carry it as a label
    (see :func:`gcp_label`). ``single_user`` names the cluster's owner when the spec asks for
    dedicated access without one: the Clusters API needs ``single_user_name`` with
    ``SINGLE_USER`` (Terraform's ``databricks_cluster``: "required when using data_security_mode
    set to SINGLE_USER"); the DAG passes the identity of its Databricks connection.

    Raises:
        PayloadError: the spec needs a single user and none is given.
    """
    spec = dict(config.cluster_spec)
    if needs_single_user(config):
        if not single_user:
            raise PayloadError("the cluster spec asks for SINGLE_USER access but names no single_user_name")
        spec["single_user_name"] = single_user
    tags = dict(spec.get("custom_tags", {}))
    tags |= {
        "pipeline": "order-tracking",
        "airflow_dag": gcp_label(dag_id),
        "airflow_batch": gcp_label(batch_id),
    }
    return spec | {"cluster_name": cluster_name(batch_id), "custom_tags": tags, "idempotency_token": token}


def submit_run_payload(
    config: PipelineConfig, entry_point: str, manifest_uri: Pending, cluster_id: Pending
) -> dict[str, Any]:
    """One single-task run executing ``entry_point`` of the spark_tasks wheel on the run's cluster.

    The wheel gets **named parameters**, the Databricks convention for wheel tasks: Databricks
    passes them as ``--<key>=<value>``, which the jobs' argparse reads (``spark_tasks.cli``). It is
    also the only way to send one parameter field: the Jobs API 2.2 says to leave ``parameters``
    empty when ``named_parameters`` is set, and the Databricks provider (7.23) copies the DAG's
    params into ``named_parameters`` whenever that field is empty, so positional ``parameters``
    always left with a second field beside them.

    ``manifest_uri`` and ``cluster_id`` are values or, in the DAG, XComArgs (``batch["manifest_uri"]``
    and ``start_cluster``'s output): ``DatabricksSubmitRunOperator`` renders its templated ``json``
    field, resolving them to the values those tasks returned, and they make the step depend on
    the tasks that produce them. ``timeout_seconds`` lets Databricks end a run whose Airflow task
    is gone, :data:`DATABRICKS_TIMEOUT_GRACE_SECONDS` after the step's own timeout.

    Raises:
        PayloadError: the named parameters, with the longest manifest URI a batch can have,
            exceed the Jobs API's 10,000 bytes of JSON.
    """
    named: dict[str, Pending] = {
        "manifest": manifest_uri,
        **config.tables.as_parameters(),
        "schema_policy": config.schema_policy,
    }
    if config.tables_root:
        named["tables_root"] = config.tables_root
    longest_manifest = config.gcs_uri(
        batch_dir(config.batches_prefix, "x" * MAX_BATCH_ID_LENGTH) + MANIFEST_NAME
    )
    compact = json.dumps(named | {"manifest": longest_manifest}, separators=(",", ":"), ensure_ascii=False)
    size = len(compact.encode("utf-8"))  # as the request carries it: compact JSON in UTF-8
    if size > MAX_TASK_PARAMETERS_BYTES:
        raise PayloadError(
            f"the {entry_point} step's named_parameters are {size} bytes of JSON; the Jobs API takes at "
            f"most {MAX_TASK_PARAMETERS_BYTES}: shorten the table names, tables_root or bucket"
        )
    return {
        "run_name": f"order_tracking_{entry_point}",
        "timeout_seconds": config.step_timeout_seconds + DATABRICKS_TIMEOUT_GRACE_SECONDS,
        "tasks": [
            {
                "task_key": entry_point,
                "existing_cluster_id": cluster_id,
                "python_wheel_task": {
                    "package_name": WHEEL_PACKAGE,
                    "entry_point": entry_point,
                    "named_parameters": named,
                },
                "libraries": [{"whl": config.wheel_uri}],
            }
        ],
    }

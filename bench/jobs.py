"""How the harness calls the real jobs: their arguments and manifests, built as the DAG would."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from spark_tasks.cli import JobArgs
from spark_tasks.contract import SchemaPolicy
from spark_tasks.manifest import BatchManifest
from spark_tasks.tables import TableRef

TABLE_NAMES = ("stage_zn_new", "target_zn_new", "rejects_zn_new", "ledger_zn_new", "audit_zn_new")


def job_args(root: Path) -> JobArgs:
    """The jobs' arguments with path tables under ``root`` (what ``--tables-root`` gives them)."""
    stage, target, rejects, ledger, audit = (TableRef(name, str(root)) for name in TABLE_NAMES)
    return JobArgs("", stage, target, rejects, ledger, audit, SchemaPolicy.ADD)


def merge_manifest(batch_id: str, created_at: datetime) -> BatchManifest:
    """The merge job only needs the batch id from its manifest (the rows are in the stage table)."""
    return BatchManifest(
        batch_id=batch_id,
        bucket="bench",
        created_at=created_at,
        objects=(),
        stage_result_uri="",
        merge_result_uri="",
    )

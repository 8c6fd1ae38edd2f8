"""Command-line arguments shared by the job entry points (Databricks passes them as parameters)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from spark_tasks.contract import SchemaPolicy
from spark_tasks.tables import TableRef


@dataclass(frozen=True)
class JobArgs:
    manifest_uri: str
    stage: TableRef
    target: TableRef
    rejects: TableRef
    ledger: TableRef
    audit: TableRef
    schema_policy: SchemaPolicy


def parse_job_args(argv: list[str], description: str) -> JobArgs:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--manifest", required=True, help="URI of the batch manifest (gs://...)")
    parser.add_argument("--stage-table", default="stage_zn_new")
    parser.add_argument("--target-table", default="target_zn_new")
    parser.add_argument("--rejects-table", default="rejects_zn_new")
    parser.add_argument("--ledger-table", default="ledger_zn_new")
    parser.add_argument("--audit-table", default="audit_zn_new")
    parser.add_argument(
        "--schema-policy", choices=[p.value for p in SchemaPolicy], default=SchemaPolicy.ADD.value
    )
    parser.add_argument(
        "--tables-root",
        default="",
        help="folder holding path-based Delta tables; empty means catalog tables (Databricks)",
    )
    args = parser.parse_args(argv)

    def table(name: str) -> TableRef:
        return TableRef(name, args.tables_root)

    return JobArgs(
        manifest_uri=args.manifest,
        stage=table(args.stage_table),
        target=table(args.target_table),
        rejects=table(args.rejects_table),
        ledger=table(args.ledger_table),
        audit=table(args.audit_table),
        schema_policy=SchemaPolicy(args.schema_policy),
    )

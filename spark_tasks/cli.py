"""Command-line arguments shared by the job entry points (Databricks passes them as parameters)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from spark_tasks.tables import TableRef


@dataclass(frozen=True)
class JobArgs:
    manifest_uri: str
    stage: TableRef
    target: TableRef


def parse_job_args(argv: list[str] | None, description: str) -> JobArgs:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--manifest", required=True, help="URI of the batch manifest (gs://...)")
    parser.add_argument("--stage-table", default="stage_zn_new")
    parser.add_argument("--target-table", default="target_zn_new")
    parser.add_argument(
        "--tables-root",
        default="",
        help="folder holding path-based Delta tables; empty means catalog tables (Databricks)",
    )
    args = parser.parse_args(argv)
    return JobArgs(
        manifest_uri=args.manifest,
        stage=TableRef(args.stage_table, args.tables_root),
        target=TableRef(args.target_table, args.tables_root),
    )

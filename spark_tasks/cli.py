"""Command-line arguments shared by the job entry points (Databricks passes them as parameters)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

from batch_documents import SchemaPolicy, TableNames
from spark_tasks.tables import TableRef

log = logging.getLogger(__name__)


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
    """Parse the job's parameters, given as ``--name value`` or ``--name=value``.

    Databricks passes a wheel task's ``named_parameters`` as ``--<key>=<value>`` (keys here use
    underscores, e.g. ``stage_table``; the hyphenated spelling works too). Parameters the job does
    not know, such as ones a platform adds (OpenLineage context), are logged and ignored; a missing
    ``--manifest`` fails with argparse's message.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--manifest", required=True, help="URI of the batch manifest (gs://...)")
    for parameter, default in TableNames().as_parameters().items():
        parser.add_argument(f"--{parameter}", f"--{parameter.replace('_', '-')}", default=default)
    parser.add_argument(
        "--schema_policy",
        "--schema-policy",
        choices=[p.value for p in SchemaPolicy],
        default=SchemaPolicy.ADD.value,
    )
    parser.add_argument(
        "--tables_root",
        "--tables-root",
        default="",
        help="folder holding path-based Delta tables; empty means catalog tables (Databricks)",
    )
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        log.warning("ignoring parameters this job does not take: %s", " ".join(unknown))

    names = TableNames.from_parameters(vars(args))

    def table(name: str) -> TableRef:
        return TableRef(name, args.tables_root)

    return JobArgs(
        manifest_uri=args.manifest,
        stage=table(names.stage),
        target=table(names.target),
        rejects=table(names.rejects),
        ledger=table(names.ledger),
        audit=table(names.audit),
        schema_policy=SchemaPolicy(args.schema_policy),
    )

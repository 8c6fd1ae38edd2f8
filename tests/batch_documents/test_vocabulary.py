"""The shared words and table names, and the package's promise to import neither Airflow nor PySpark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from batch_documents import Destination, Outcome, RunMode, SchemaPolicy, TableNames

REPO = Path(__file__).resolve().parents[2]


def test_each_word_is_its_plain_text_on_the_wire() -> None:
    assert [str(mode) for mode in RunMode] == ["incremental", "objects", "replay"]
    assert [str(outcome) for outcome in Outcome] == ["loaded", "quarantined", "duplicate"]
    assert [str(where) for where in Destination] == ["archive", "quarantine", "discard"]
    assert [str(policy) for policy in SchemaPolicy] == ["add", "rescue", "fail"]
    assert json.dumps({"outcome": Outcome.LOADED}) == '{"outcome": "loaded"}'


def test_the_tables_default_names_and_the_jobs_parameters() -> None:
    names = TableNames()
    assert names.as_parameters() == {
        "stage_table": "stage_zn_new",
        "target_table": "target_zn_new",
        "rejects_table": "rejects_zn_new",
        "ledger_table": "ledger_zn_new",
        "audit_table": "audit_zn_new",
    }
    assert TableNames.from_parameters({"target_table": "t", "manifest": "gs://b/m"}) == TableNames(target="t")
    assert TableNames.from_parameters(names.as_parameters()) == names


def test_the_package_imports_neither_airflow_nor_pyspark() -> None:
    probe = (
        f"import sys; sys.path.insert(0, {str(REPO / 'plugins')!r}); import batch_documents; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'pyspark', 'py4j', 'delta')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

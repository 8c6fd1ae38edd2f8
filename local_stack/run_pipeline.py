"""``make run``: one real DAG run on the local stack, start to finish, then a summary.

Starts the GCS emulator and the local Databricks runner on 127.0.0.1, drops the sample CSVs (or
your own, with ``--input``) into the staging prefix, runs ``airflow dags test`` on the real DAG,
stops what it started and prints what happened.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from batch_documents import Outcome
from local_stack.airflow_env import LOCAL_DIR, LOCAL_FEED, dag_settings_problem, overridden_feed_notes
from local_stack.gcs_emulator import emulator_client
from local_stack.input_files import InputFilesError, split_file_list, staging_names
from local_stack.jars import ensure_jars
from local_stack.local_stack import LocalStack
from local_stack.samples import sample_objects
from local_stack.settings import BUCKET, DAG_ID, STAGING_PREFIX

STAGING = STAGING_PREFIX
ARCHIVE = LOCAL_FEED["ORDER_TRACKING_ARCHIVE_PREFIX"]
QUARANTINE = LOCAL_FEED["ORDER_TRACKING_QUARANTINE_PREFIX"]
TABLES = ("stage_zn_new", "target_zn_new", "rejects_zn_new", "ledger_zn_new", "audit_zn_new")


def upload_inputs(client: Any, inputs: dict[str, Path]) -> list[str]:
    """Upload ``{object name: local file}`` (from :func:`staging_names`), or the samples if empty."""
    if inputs:
        objects = {name: path.read_bytes() for name, path in inputs.items()}
    else:
        objects = {STAGING + name: data for name, data in sample_objects().items()}
    bucket = client.bucket(BUCKET)
    for name, data in objects.items():
        bucket.blob(name).upload_from_string(data, content_type="text/csv")
    return list(objects)


def run_dag(env: dict[str, str], log_file: Path) -> int:
    """Run one DAG run in-process with ``airflow dags test``; return its exit code."""
    with log_file.open("w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", DAG_ID],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return proc.returncode


def summarize(client: Any, warehouse: Path) -> dict[str, Any]:
    """Counts from the newest batch's documents, and what sits where in the bucket."""
    blobs = list(client.list_blobs(BUCKET))
    names = [blob.name for blob in blobs]
    summary: dict[str, Any] = {
        "objects_left_in_staging": sum(1 for n in names if n.startswith(STAGING)),
        "objects_in_archive": sum(1 for n in names if n.startswith(ARCHIVE)),
        "objects_in_quarantine": sum(1 for n in names if n.startswith(QUARANTINE)),
        "tables": {t: str(warehouse / t) for t in TABLES},
    }
    manifests = [blob for blob in blobs if blob.name.endswith("/manifest.json")]
    if manifests:
        folder = max(manifests, key=lambda blob: (blob.time_created, blob.name)).name.rsplit("/", 1)[0]
        bucket = client.bucket(BUCKET)

        def document(name: str) -> dict[str, Any] | None:
            path = f"{folder}/{name}.json"
            return json.loads(bucket.blob(path).download_as_bytes()) if path in names else None

        manifest = document("manifest")
        assert manifest is not None
        summary |= batch_summary(manifest, document("stage_result"), document("merge_result"))
    return summary


def batch_summary(
    manifest: dict[str, Any],
    stage_result: dict[str, Any] | None,
    merge_result: dict[str, Any] | None,
) -> dict[str, Any]:
    """One batch's figures from its documents (JSON as the DAG and the jobs write them); a job that
    did not run (no CSV object in the batch, a dry run, a failure) has no result and no figures.

    Every object the batch was cut with is counted once: the CSV objects by the stage job's outcome
    (``loaded``, ``duplicate``, ``quarantined``) and the objects not named ``*.csv``, which the cut
    sends to quarantine without any job reading them (``not_csv``).
    """
    outcomes = Counter(obj["outcome"] for obj in (stage_result or {}).get("objects", []))
    summary: dict[str, Any] = {
        "batch_id": manifest["batch_id"],
        "objects_loaded": outcomes[Outcome.LOADED.value],
        "objects_duplicate": outcomes[Outcome.DUPLICATE.value],
        "objects_quarantined": outcomes[Outcome.QUARANTINED.value],
        "objects_not_csv": len(manifest.get("not_csv", [])),
    }
    if stage_result is None:
        summary["jobs"] = (
            "none ran: no CSV object in the batch" if not manifest["objects"] else "no stage result"
        )
        return summary
    summary |= {
        "records_read": stage_result["records_read"],
        "rows_staged": stage_result["rows_staged"],
        "rows_rejected": stage_result["rows_rejected"],
    }
    if merge_result is not None:
        summary |= {
            "target_inserted": merge_result["inserted"],
            "target_updated": merge_result["updated"],
            "stale_skipped": merge_result["stale_skipped"],
            "superseded_in_batch": merge_result["superseded_in_batch"],
            "rows_in_target": merge_result["target_rows"],
        }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--input", type=Path, nargs="*", default=[], help="CSV files to drop instead of samples"
    )
    parser.add_argument(
        "--input-list",
        type=split_file_list,
        default=[],
        help="the same as one shell-quoted string (make's INPUT: no shell ever runs it)",
    )
    args = parser.parse_args()
    args.input += [Path(name) for name in args.input_list]
    try:
        inputs = staging_names(args.input, STAGING, variable="INPUT")
    except InputFilesError as error:
        parser.error(str(error))
    for note in overridden_feed_notes():
        print(note, flush=True)
    # `airflow dags test` cannot run a DAG with a deadline; `make up` (scheduler + triggerer) keeps it.
    no_deadline = {"ORDER_TRACKING_RUN_DEADLINE_SECONDS": "0"}
    if problem := dag_settings_problem(no_deadline):
        parser.error(problem)
    started = time.monotonic()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the runner's stats call is not news
    ensure_jars()
    warehouse = LOCAL_DIR / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    (LOCAL_DIR / "logs").mkdir(parents=True, exist_ok=True)

    with LocalStack(warehouse, airflow_home=LOCAL_DIR / "airflow", airflow_settings=no_deadline) as stack:
        stack.migrate_airflow_db()
        client = emulator_client(stack.gcs_url)
        dropped = upload_inputs(client, inputs)
        print(f"dropped {len(dropped)} object(s) under gs://{BUCKET}/{STAGING}", flush=True)
        log_file = LOCAL_DIR / "logs" / f"dag-run-{int(time.time())}.log"
        code = run_dag(stack.env, log_file)
        stats = stack.runner.stats()
        summary = summarize(client, warehouse) | {
            "cluster_starts": stats["cluster_starts"],
            "databricks_api_calls": sum(stats["api_calls"].values()),
            "dag_run_log": str(log_file),
            "wall_seconds": round(time.monotonic() - started, 1),
        }
    print(json.dumps(summary, indent=2))
    if code != 0:
        print(f"the DAG run failed (exit {code}); see {log_file}", file=sys.stderr)
        print("".join(log_file.read_text(errors="replace").splitlines(keepends=True)[-40:]), file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

"""``make run``'s summary of the batch: every object the batch was cut with is counted once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local_stack.run_pipeline import batch_summary, summarize
from local_stack.settings import BUCKET


def _object(outcome: str) -> dict[str, Any]:
    return {"name": f"staging_zn/{outcome}.csv", "generation": "1", "outcome": outcome}


def test_objects_are_counted_by_outcome_and_not_csv_objects_are_counted_too() -> None:
    manifest = {
        "batch_id": "b1",
        "objects": [{"name": "staging_zn/x.csv"}],
        "not_csv": [{"name": "staging_zn/readme.txt"}, {"name": "staging_zn/x.json"}],
    }
    stage_result = {
        "batch_id": "b1",
        "objects": [_object("loaded"), _object("loaded"), _object("duplicate"), _object("quarantined")],
        "records_read": 10,
        "rows_staged": 8,
        "rows_rejected": 2,
    }
    merge_result = {
        "inserted": 5,
        "updated": 1,
        "stale_skipped": 1,
        "superseded_in_batch": 1,
        "target_rows": 5,
    }
    summary = batch_summary(manifest, stage_result, merge_result)
    assert {key: value for key, value in summary.items() if key.startswith("objects_")} == {
        "objects_loaded": 2,
        "objects_duplicate": 1,
        "objects_quarantined": 1,
        "objects_not_csv": 2,
    }
    assert summary["batch_id"] == "b1"
    assert (summary["records_read"], summary["rows_staged"], summary["rows_rejected"]) == (10, 8, 2)
    assert (summary["target_inserted"], summary["target_updated"], summary["rows_in_target"]) == (5, 1, 5)


def test_a_manifest_without_not_csv_objects_counts_none() -> None:
    manifest = {"batch_id": "b", "objects": []}
    stage_result = {"batch_id": "b", "objects": [], "records_read": 0, "rows_staged": 0, "rows_rejected": 0}
    merge_result = {
        "inserted": 0,
        "updated": 0,
        "stale_skipped": 0,
        "superseded_in_batch": 0,
        "target_rows": 0,
    }
    assert batch_summary(manifest, stage_result, merge_result)["objects_not_csv"] == 0


def test_a_batch_of_only_non_csv_objects_is_summarized_from_its_manifest() -> None:
    """No CSV object: no job ran and there are no results, but the batch and its quarantined
    objects are still in the summary."""
    manifest = {"batch_id": "b2", "objects": [], "not_csv": [{"name": "staging_zn/notes.json"}] * 3}
    assert batch_summary(manifest, None, None) == {
        "batch_id": "b2",
        "objects_loaded": 0,
        "objects_duplicate": 0,
        "objects_quarantined": 0,
        "objects_not_csv": 3,
        "jobs": "none ran: no CSV object in the batch",
    }


def test_the_summary_reads_the_newest_batch_even_without_results(gcs: Any, tmp_path: Path) -> None:
    bucket = gcs.bucket(BUCKET)
    for batch_id in ("older_batch", "newest_batch"):
        manifest = {"batch_id": batch_id, "objects": [], "not_csv": [{"name": "staging_zn/notes.json"}]}
        bucket.blob(f"_batches/{batch_id}/manifest.json").upload_from_string(json.dumps(manifest))
    summary = summarize(gcs, tmp_path)
    assert (summary["batch_id"], summary["objects_not_csv"]) == ("newest_batch", 1)
    assert summary["jobs"] == "none ran: no CSV object in the batch"

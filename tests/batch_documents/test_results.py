"""The jobs' result documents: what the jobs write is what the DAG reads, this release and the last."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from batch_documents import (
    BadFieldError,
    Destination,
    MergeResult,
    MissingFieldError,
    ObjectOutcome,
    Outcome,
    SchemaPolicy,
    StageResult,
)
from tests.batch_documents.generated import merge_results, stage_results

EARLIER = Path(__file__).parent / "previous_release"


def _earlier(name: str) -> str:
    return (EARLIER / name).read_text()


@given(stage_results)
def test_every_stage_result_round_trips(result: StageResult) -> None:
    assert StageResult.from_json(result.to_json()) == result
    assert StageResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


@given(merge_results)
def test_every_merge_result_round_trips(result: MergeResult) -> None:
    assert MergeResult.from_json(result.to_json()) == result


def test_a_stage_result_of_the_previous_release_reads_and_writes_back_unchanged() -> None:
    text = _earlier("stage_result.json")
    result = StageResult.from_json(text)
    assert (result.batch_id, result.schema_policy, result.dry_run) == ("manual__b1", SchemaPolicy.ADD, False)
    assert [(o.name, o.outcome, o.destination) for o in result.objects] == [
        ("staging_zn/a.csv", Outcome.LOADED, Destination.ARCHIVE),
        ("staging_zn/b.csv", Outcome.QUARANTINED, Destination.QUARANTINE),
        ("staging_zn/c.csv", Outcome.DUPLICATE, Destination.ARCHIVE),
    ]
    assert result.objects[2].duplicate_of == "staging_zn/a.csv"
    assert (result.records_read, result.rows_staged, result.rows_rejected) == (40, 37, 3)
    assert [result.count(outcome) for outcome in Outcome] == [1, 1, 1]
    assert result.reject_reasons == {"invalid_status": 2, "invalid_event_ts": 1}
    assert result.to_json() + "\n" == text


def test_a_merge_result_of_the_previous_release_reads_and_writes_back_unchanged() -> None:
    text = _earlier("merge_result.json")
    result = MergeResult.from_json(text)
    counts = (result.inserted, result.updated, result.stale_skipped, result.superseded_in_batch)
    assert counts == (25, 3, 2, 7)
    assert result.to_json() + "\n" == text


def _stage(**changes: Any) -> dict[str, Any]:
    return dict(json.loads(_earlier("stage_result.json"))) | changes


@pytest.mark.parametrize("field", ["batch_id", "schema_policy", "objects"])
def test_a_stage_result_missing_a_field_names_it(field: str) -> None:
    doc = _stage()
    del doc[field]
    with pytest.raises(MissingFieldError, match=f"stage result lacks the field '{field}'"):
        StageResult.from_dict(doc)


def test_an_object_outcome_missing_a_field_names_it_by_its_path() -> None:
    doc = _stage()
    del doc["objects"][2]["outcome"]
    with pytest.raises(MissingFieldError, match=r"lacks the field 'objects\[2\]\.outcome'"):
        StageResult.from_dict(doc)


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        ("outcome", "lost", "objects[0].outcome"),
        ("destination", "discard", "objects[0].destination"),  # a stage job never discards
        ("destination", "elsewhere", "objects[0].destination"),
        ("rows_loaded", -1, "objects[0].rows_loaded"),
    ],
)
def test_an_object_outcome_out_of_its_vocabulary_is_named(where: str, value: Any, field: str) -> None:
    doc = _stage()
    doc["objects"][0][where] = value
    with pytest.raises(BadFieldError) as bad:
        StageResult.from_dict(doc)
    assert bad.value.field == field


def test_totals_that_disagree_with_the_objects_are_refused() -> None:
    with pytest.raises(BadFieldError, match=r"'rows_staged' is 36: expected 37, the sum over its objects"):
        StageResult.from_dict(_stage(rows_staged=36))


def test_a_merge_result_missing_a_count_names_it() -> None:
    doc = dict(json.loads(_earlier("merge_result.json")))
    del doc["target_version"]
    with pytest.raises(MissingFieldError, match="merge result lacks the field 'target_version'"):
        MergeResult.from_dict(doc)


def test_outcomes_given_as_text_are_the_vocabulary() -> None:
    outcome = ObjectOutcome("a.csv", "loaded", "archive")  # type: ignore[arg-type]
    assert (outcome.outcome, outcome.destination) == (Outcome.LOADED, Destination.ARCHIVE)
    result = StageResult("b", "rescue", [outcome])  # type: ignore[arg-type]
    assert (result.schema_policy, result.objects) == (SchemaPolicy.RESCUE, (outcome,))

"""What a run processes, from its trigger form and run type."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest

from batch_documents import RunMode
from order_tracking.run_modes import RunRequestError, dag_params, resolve_run_request

INCREMENTAL, OBJECTS, REPLAY = RunMode.INCREMENTAL, RunMode.OBJECTS, RunMode.REPLAY

START, END = datetime(2026, 11, 25, 10, tzinfo=UTC), datetime(2026, 11, 25, 11, tzinfo=UTC)


def test_an_empty_form_is_an_incremental_run() -> None:
    defaults = {name: param.value for name, param in dag_params().items()}
    request = resolve_run_request(defaults, "manual", START, END)
    assert (request.mode, request.dry_run) == (INCREMENTAL, False)
    assert resolve_run_request({}, "scheduled", START, END).mode == INCREMENTAL


def test_named_objects_and_dry_run() -> None:
    request = resolve_run_request({"objects": [" a.csv ", ""], "dry_run": True}, "manual", START, END)
    assert (request.mode, request.objects, request.dry_run) == (OBJECTS, ("a.csv",), True)


def test_replay_date_covers_that_utc_day() -> None:
    request = resolve_run_request({"replay_date": "2026-11-20"}, "manual", None, None)
    assert request.mode == REPLAY
    assert request.replay_start == datetime(2026, 11, 20, tzinfo=UTC)
    assert request.replay_end == datetime(2026, 11, 21, tzinfo=UTC)


def test_backfill_runs_replay_their_data_interval() -> None:
    request = resolve_run_request({}, "backfill", START, END)
    assert (request.mode, request.replay_start, request.replay_end) == (REPLAY, START, END)
    instant = resolve_run_request({}, "backfill", START, START)  # a trigger timetable's "interval"
    assert instant.replay_start == START
    assert instant.replay_end is not None
    assert instant.replay_end > START


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"objects": ["a.csv"], "replay_date": "2026-11-20"}, "not both"),
        ({"replay_date": "20/11/2026"}, "not a YYYY-MM-DD date"),
    ],
)
def test_contradictory_or_malformed_forms_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(RunRequestError, match=message):
        resolve_run_request(params, "manual", START, END)


def test_the_form_schema_validates_what_the_ui_sends() -> None:
    params = dag_params()
    jsonschema.validate(["a.csv"], params["objects"].schema)
    jsonschema.validate(None, params["replay_date"].schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("a.csv", params["objects"].schema)  # must be a list
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("yes", params["dry_run"].schema)

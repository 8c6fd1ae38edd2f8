"""Header rules of the feed contract (pure Python)."""

from __future__ import annotations

import pytest

from spark_tasks.contract import QuarantineReason, SchemaPolicy, check_header


def test_names_are_trimmed_and_case_insensitive_in_any_order() -> None:
    check = check_header([" Event_TS", "STATUS ", "tracking_num", "Carrier", "order_id"], SchemaPolicy.ADD)
    assert check.quarantine is None
    assert check.columns == ("event_ts", "status", "tracking_num", "carrier", "order_id")


@pytest.mark.parametrize(
    ("names", "policy", "reason"),
    [
        (
            ["tracking_num", "order_id", "carrier", "status"],
            SchemaPolicy.ADD,
            QuarantineReason.MISSING_REQUIRED_COLUMNS,
        ),
        (
            ["tracking_num", "order_id", "carrier", "status", "event_ts", " STATUS"],
            SchemaPolicy.ADD,
            QuarantineReason.DUPLICATE_COLUMNS,
        ),
        (
            ["tracking_num", "order_id", "carrier", "status", "event_ts", "gate"],
            SchemaPolicy.FAIL,
            QuarantineReason.UNKNOWN_COLUMNS,
        ),
        (
            ["tracking_num", "order_id", "carrier", "status", "event_ts", "gate no."],
            SchemaPolicy.ADD,
            QuarantineReason.INVALID_COLUMN_NAME,
        ),
    ],
)
def test_header_quarantine_reasons(names: list[str], policy: SchemaPolicy, reason: QuarantineReason) -> None:
    check = check_header(names, policy)
    assert check.quarantine is reason
    assert check.detail


def test_unknown_columns_are_listed_under_add_and_rescue() -> None:
    names = ["tracking_num", "order_id", "carrier", "status", "event_ts", "gate"]
    for policy in (SchemaPolicy.ADD, SchemaPolicy.RESCUE):
        check = check_header(names, policy)
        assert (check.quarantine, check.unknown) == (None, ("gate",))

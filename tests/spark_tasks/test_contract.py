"""Header rules of the feed contract (pure Python)."""

from __future__ import annotations

import re

import pytest

from spark_tasks.contract import (
    DATE_MAX,
    DATE_MIN,
    EVENT_TS_END,
    EVENT_TS_MIN,
    WHITESPACE,
    WHITESPACE_CLASS,
    QuarantineReason,
    SchemaPolicy,
    check_header,
    is_reserved_column,
    normalize_column,
)


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


REQUIRED = ["tracking_num", "order_id", "carrier", "status", "event_ts"]


def _working_columns() -> list[str]:
    """Every column name the jobs give to their own data: lineage, working and Delta-sensitive names."""
    from spark_tasks import lineage, reader, stage_load, validation
    from spark_tasks.contract import CORRUPT_RECORD, RESCUED_DATA

    return [
        *lineage.STAGE_LINEAGE_COLUMNS,
        *lineage.TARGET_LINEAGE_COLUMNS,
        CORRUPT_RECORD,
        RESCUED_DATA,
        reader.RAW_RECORD,
        reader.READ_ORDER,
        validation.REJECT_REASON,
        validation.REJECT_DETAIL,
        stage_load.NOT_UTF8,
    ]


def test_every_column_the_jobs_name_is_in_the_reserved_namespace() -> None:
    assert [name for name in _working_columns() if not is_reserved_column(name)] == []


@pytest.mark.parametrize(
    "name",
    [
        *_working_columns(),
        "path",
        "filePath",
        "_metadata",
        "__delta_internal_row_index",
        "_tmp_metadata_row_index",
        "_change_type",
        "Batch_ID",
        " SOURCE_OBJECT ",
    ],
)
@pytest.mark.parametrize("policy", list(SchemaPolicy))
def test_a_producer_column_in_our_namespace_quarantines_the_object(name: str, policy: SchemaPolicy) -> None:
    check = check_header([*REQUIRED, name], policy)
    assert check.quarantine is QuarantineReason.RESERVED_COLUMN_NAME
    assert normalize_column(name) in check.detail


@pytest.mark.parametrize("name", ["gate\n", "gate$", "ga te", "9gate", "gäte"])
def test_unknown_names_must_be_letters_digits_and_underscores_to_the_very_end(name: str) -> None:
    # "gate\n" is trimmed to "gate" (valid); the others are refused whole, never by a prefix match
    check = check_header([*REQUIRED, name], SchemaPolicy.ADD)
    if name.strip() == "gate":
        assert check.quarantine is None
    else:
        assert check.quarantine is QuarantineReason.INVALID_COLUMN_NAME


# The Unicode White_Space property (PropList.txt), as the contract names it.
WHITE_SPACE_CODE_POINTS = [
    *range(0x09, 0x0E),
    0x20,
    0x85,
    0xA0,
    0x1680,
    *range(0x2000, 0x200B),
    0x2028,
    0x2029,
    0x202F,
    0x205F,
    0x3000,
]


def test_whitespace_is_the_unicode_white_space_property() -> None:
    assert sorted(map(ord, WHITESPACE)) == WHITE_SPACE_CODE_POINTS
    # the same class text in Python's re as in java.util.regex (tested on Spark in test_validation)
    whitespace_class = re.compile(WHITESPACE_CLASS)
    assert [c for c in range(0x110000) if whitespace_class.fullmatch(chr(c))] == WHITE_SPACE_CODE_POINTS


def test_header_names_are_trimmed_of_every_white_space_character_and_nothing_else() -> None:
    for char in WHITESPACE:
        assert normalize_column(f"{char}{char}Gate{char}") == "gate", hex(ord(char))
    # str.strip() would take the information separators U+001C-U+001F too; U+200B and U+FEFF are no spaces
    for char in "\x1c\x1d\x1e\x1f\u200b\ufeff":
        assert normalize_column(f"{char}gate{char}") == f"{char}gate{char}", hex(ord(char))


def test_the_valid_years_of_event_ts_and_dates() -> None:
    assert (EVENT_TS_MIN.isoformat(), EVENT_TS_END.isoformat()) == (
        "1900-01-01T00:00:00+00:00",
        "2200-01-01T00:00:00+00:00",
    )
    assert (DATE_MIN.isoformat(), DATE_MAX.isoformat()) == ("1900-01-01", "2199-12-31")


def test_header_names_fold_ascii_case_only() -> None:
    # the Kelvin sign (U+212A) lower-cases to 'k' in Unicode: that name is not tracking_num
    check = check_header(["trac\u212aing_num", "order_id", "carrier", "status", "event_ts"], SchemaPolicy.ADD)
    assert check.quarantine is QuarantineReason.MISSING_REQUIRED_COLUMNS
    assert "'trac\u212aing_num'" in check.detail  # the detail shows the names the header has


def test_duplicate_blank_names_are_named_in_the_detail() -> None:
    check = check_header([*REQUIRED, "", "\u00a0"], SchemaPolicy.ADD)
    assert check.quarantine is QuarantineReason.DUPLICATE_COLUMNS
    assert check.detail == "duplicate column names: ''"

"""Reading the header from an object's first bytes (pure Python)."""

from __future__ import annotations

import pytest

from spark_tasks.contract import WHITESPACE, QuarantineReason, SchemaPolicy, check_header
from spark_tasks.probe import ProbeResult, parse_header


def test_bom_crlf_and_a_quoted_header_field() -> None:
    assert parse_header(b'\xef\xbb\xbftracking_num,"order, id"\r\nT1,O1\r\n', complete=True) == [
        "tracking_num",
        "order, id",
    ]


def test_leading_blank_lines_are_not_the_header() -> None:
    assert parse_header(b"\n\nh1,h2\n", complete=True) == ["h1", "h2"]


def test_no_header_row() -> None:
    result = parse_header(b"\n\n", complete=True)
    assert isinstance(result, ProbeResult)
    assert result.quarantine is QuarantineReason.NO_HEADER


def test_a_header_longer_than_the_probe_is_no_header() -> None:
    result = parse_header(b"a" * 100, complete=False)
    assert isinstance(result, ProbeResult)
    assert result.quarantine is QuarantineReason.NO_HEADER


def test_invalid_utf8_in_the_header() -> None:
    result = parse_header("tracking_num,lieu\xe9\n".encode("latin-1"), complete=True)
    assert isinstance(result, ProbeResult)
    assert result.quarantine is QuarantineReason.NOT_UTF8


def test_a_multibyte_character_cut_by_the_probe_is_not_an_error() -> None:
    assert parse_header("h1,Zürich\nx,".encode()[:-1] + "é".encode()[:1], complete=False) == ["h1", "Zürich"]


HEADER = ["tracking_num", "order_id", "carrier", "status", "event_ts"]
ENDINGS = ["\n", "\r\n"]


@pytest.mark.parametrize("header_ending", ENDINGS, ids=["header LF", "header CRLF"])
@pytest.mark.parametrize("row_ending", ENDINGS, ids=["rows LF", "rows CRLF"])
@pytest.mark.parametrize("complete", [True, False])
def test_the_header_is_the_same_whatever_the_line_endings(
    header_ending: str, row_ending: str, complete: bool
) -> None:
    data = ",".join(HEADER) + header_ending + "T1,O1,UPS,DELIVERED,2026-11-26T10:00:00Z" + row_ending + "T2,O"
    assert parse_header(data.encode(), complete) == HEADER


@pytest.mark.parametrize("ending", ENDINGS, ids=["LF", "CRLF"])
def test_whitespace_only_lines_before_the_header_are_blank_lines(ending: str) -> None:
    blanks = ["", "   ", "\r", "\t\u00a0\u3000\u2028", *WHITESPACE]
    data = "".join(line + ending for line in [*blanks, ",".join(HEADER), "T1,O1"])
    assert parse_header(data.encode(), complete=True) == HEADER
    assert parse_header(data.encode(), complete=False) == HEADER


def test_a_header_cut_by_the_probe_after_blank_lines_is_no_header() -> None:
    result = parse_header(b"  \n\r\n" + b"tracking_num," * 10, complete=False)
    assert isinstance(result, ProbeResult)
    assert result.quarantine is QuarantineReason.NO_HEADER
    assert "no end of the header row" in result.detail


@pytest.mark.parametrize("char", list(WHITESPACE), ids=lambda c: f"U+{ord(c):04X}")
def test_every_white_space_character_around_header_names(char: str) -> None:
    """Quoted, and unquoted unless a line break (RFC 4180 has no CR or LF outside quotes)."""
    headers = [",".join(f'"{char}{name.upper()}{char}"' for name in HEADER)]
    if char not in "\r\n":
        headers.append(",".join(f"{char}{name.upper()}{char}" for name in HEADER))
    for header in headers:
        names = parse_header(f"{header}\r\nT1,O1\n".encode(), complete=True)
        assert isinstance(names, list)
        check = check_header(names, SchemaPolicy.FAIL)
        assert (check.quarantine, check.columns) == (None, tuple(HEADER))


@pytest.mark.parametrize(
    "data",
    [b"\rtracking_num,order_id\n", b"tracking_num,order_id\rT1,O1\r"],
    ids=["CR in a line", "CR endings"],
)
def test_a_cr_outside_quotes_not_ending_a_line_is_not_valid_csv(data: bytes) -> None:
    # the Spark reader ends lines at LF only: these would be one line there
    result = parse_header(data, complete=True)
    assert isinstance(result, ProbeResult)
    assert result.quarantine is QuarantineReason.NO_HEADER

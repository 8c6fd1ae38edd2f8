"""Reading the header from an object's first bytes (pure Python)."""

from __future__ import annotations

from spark_tasks.contract import QuarantineReason
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

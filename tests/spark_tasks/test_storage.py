"""Small batch documents through Hadoop file systems: whole, UTF-8, refused when missing or too big."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spark_tasks import storage

pytestmark = pytest.mark.spark


def test_a_document_round_trips_byte_for_byte(spark: Any, tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/result.json"
    text = '{"name": "staging_zn/Ünïcødé order.csv"}\r\n\n'
    storage.write_text(spark, uri, text)
    assert storage.read_text(spark, uri) == text
    storage.write_text(spark, uri, "{}")  # overwritten, not appended
    assert storage.read_text(spark, uri) == "{}"


def test_a_missing_or_oversized_document_is_a_clear_error(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        storage.read_text(spark, f"file://{tmp_path}/missing.json")
    (tmp_path / "big.json").write_bytes(b"x" * 11)
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        storage.read_text(spark, f"file://{tmp_path}/big.json", limit=10)
    assert storage.read_text(spark, f"file://{tmp_path}/big.json", limit=11) == "x" * 11

"""Local files to staging objects: every file lands whole on its own object, or nothing is uploaded."""

from __future__ import annotations

import argparse
import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_stack.input_files import MAX_OBJECT_NAME_BYTES, InputFilesError, split_file_list, staging_names

PREFIX = "staging_zn/"
# File names a producer or a developer really has: spaces, brackets, quotes, accents, dots, dashes.
NAME = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="/\\\x00"),
    min_size=1,
    max_size=40,
).filter(lambda name: name not in (".", ".."))


def _write(folder: Path, name: str, data: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data)
    return path


def test_each_file_becomes_its_prefixed_name_in_the_order_given(tmp_path: Path) -> None:
    a = _write(tmp_path / "x", "b.csv", "1")
    b = _write(tmp_path / "y", "a.csv", "2")
    assert staging_names([a, b], PREFIX, variable="INPUT") == {
        "staging_zn/b.csv": a,
        "staging_zn/a.csv": b,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAME, folders=st.integers(min_value=2, max_value=4))
def test_one_name_in_several_folders_is_refused_naming_every_file(
    tmp_path_factory: pytest.TempPathFactory, name: str, folders: int
) -> None:
    root = tmp_path_factory.mktemp("clash")
    try:
        paths = [_write(root / f"day{i}", name, f"rows of day {i}") for i in range(folders)]
    except OSError:  # a name this filesystem cannot hold is not this test's business
        return
    with pytest.raises(InputFilesError) as raised:
        staging_names(paths, PREFIX, variable="FILES")
    message = str(raised.value)
    assert f"{folders} different files would all become gs://…/{PREFIX}{name}" in message
    assert all(str(path) in message for path in paths)


def test_a_clash_is_reported_even_beside_an_unclashing_file(tmp_path: Path) -> None:
    ok = _write(tmp_path, "tue.csv", "t")
    mon = _write(tmp_path / "a", "orders.csv", "a")
    mon_too = _write(tmp_path / "b", "orders.csv", "b")
    with pytest.raises(InputFilesError, match=r"2 different files .*orders\.csv"):
        staging_names([ok, mon, mon_too], PREFIX, variable="INPUT")


def test_the_same_file_by_any_spelling_is_uploaded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "in", "orders.csv", "x")
    link = tmp_path / "link.csv"
    link.symlink_to(path)
    monkeypatch.chdir(tmp_path)
    spellings = [path, Path("in/orders.csv"), Path("in/../in/orders.csv")]
    assert staging_names(spellings, PREFIX, variable="INPUT") == {"staging_zn/orders.csv": path}
    # A symlink under another name is the same bytes: uploaded once, under the first name given.
    assert list(staging_names([link, path], PREFIX, variable="INPUT")) == ["staging_zn/link.csv"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Orders.csv", "orders.csv"),  # Cloud Storage names are case-sensitive
        (unicodedata.normalize("NFC", "é.csv"), unicodedata.normalize("NFD", "é.csv")),
        ("orders.csv", "orders.csv "),  # a trailing space is part of the name
    ],
)
def test_names_cloud_storage_keeps_apart_stay_apart(tmp_path: Path, first: str, second: str) -> None:
    a = _write(tmp_path / "a", first, "a")
    b = _write(tmp_path / "b", second, "b")
    assert staging_names([a, b], PREFIX, variable="INPUT") == {PREFIX + first: a, PREFIX + second: b}


def test_missing_files_and_folders_are_named_together(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    folder = tmp_path / "drops"
    folder.mkdir()
    with pytest.raises(InputFilesError) as raised:
        staging_names([missing, folder], PREFIX, variable="INPUT")
    assert str(raised.value) == (
        f"no such file: {missing} (quote names with spaces inside INPUT, and write $$ for a $ "
        "(make reads $x as a variable)); "
        f"not a file: {folder} (give the CSV files, not their folder)"
    )


@pytest.mark.parametrize("name", ["line\nbreak.csv", "carriage\rreturn.csv"])
def test_a_name_with_a_line_break_is_refused(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name, "x")
    with pytest.raises(InputFilesError, match="line break"):
        staging_names([path], PREFIX, variable="FILES")


def test_a_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.csv"  # Latin-1 bytes, as an old producer writes them
    with open(raw, "w") as handle:
        handle.write("x")
    with pytest.raises(InputFilesError, match="not valid UTF-8"):
        staging_names([Path(os.fsdecode(raw))], PREFIX, variable="FILES")


def test_an_object_name_over_the_limit_is_refused(tmp_path: Path) -> None:
    # 255 bytes is the usual file-name limit, so a deep prefix is what pushes a name over 1024 bytes.
    path = _write(tmp_path, "é" * 100 + ".csv", "x")
    prefix = "p/" * ((MAX_OBJECT_NAME_BYTES - 200) // 2)
    with pytest.raises(InputFilesError, match=f"Cloud Storage allows {MAX_OBJECT_NAME_BYTES}"):
        staging_names([path], prefix, variable="FILES")
    assert staging_names([path], PREFIX, variable="FILES") == {PREFIX + path.name: path}


@pytest.mark.parametrize("value", ["it's.csv", "'a.csv", 'say "hi.csv'])
def test_an_unbalanced_quote_says_how_to_quote(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="a name holding ' goes inside"):
        split_file_list(value)


def test_quoted_names_split_whole() -> None:
    assert split_file_list('"it\'s.csv" \'say "hi".csv\' plain.csv') == [
        "it's.csv",
        'say "hi".csv',
        "plain.csv",
    ]


@pytest.mark.parametrize("name", ["data/*.csv", "~/orders.csv", "day?.csv"])
def test_a_missing_name_a_shell_would_have_expanded_says_no_shell_runs(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputFilesError, match=r"no shell expands \* \? or ~ inside INPUT: name each file"):
        staging_names([Path(name)], PREFIX, variable="INPUT")


def test_a_missing_name_with_brackets_gets_no_glob_hint(tmp_path: Path) -> None:
    with pytest.raises(InputFilesError) as raised:
        staging_names([tmp_path / "x (2) [late].csv"], PREFIX, variable="INPUT")
    assert "no shell expands" not in str(raised.value)

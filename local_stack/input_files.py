"""Local files a developer drops into the staging prefix (``make run INPUT=``, ``make drop FILES=``).

A file becomes the object ``<staging prefix><file name>``: the folder it came from is not part of
the object name. So two different files with one name (``mon/orders.csv`` and ``tue/orders.csv``)
would land on one object, the second upload silently replacing the first. :func:`staging_names`
refuses that, and every other input that cannot become an object whole, before anything is
uploaded, naming each offending path.

Object-name rules are Cloud Storage's (https://cloud.google.com/storage/docs/objects#naming):
valid UTF-8, no carriage return or line feed, at most 1024 bytes.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

MAX_OBJECT_NAME_BYTES = 1024
_UNEXPANDED = re.compile(r"[*?]|^~")  # what a shell would have expanded, had one run ([ is common)


def split_file_list(value: str) -> list[str]:
    """``INPUT`` / ``FILES`` split as a shell would split words, but by no shell (``shlex``).

    Raises:
        argparse.ArgumentTypeError: an unbalanced quote, with how to quote a name that holds one.
    """
    try:
        return shlex.split(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f'{error} in {value!r}: a name holding \' goes inside " " ("it\'s.csv"), one holding '
            "\" inside ' ' ('say \"hi\".csv')"
        ) from error


class InputFilesError(ValueError):
    """The files given cannot all be dropped as distinct, whole objects; the message lists why."""


def staging_names(paths: Sequence[Path], prefix: str, *, variable: str) -> dict[str, Path]:
    """Map each object name under ``prefix`` to the one local file uploaded there.

    Args:
        paths: local files, in the order given; the same file given twice (by any spelling of its
            path) is uploaded once.
        prefix: the staging prefix, e.g. ``"staging_zn/"``; counts toward the name length limit.
        variable: the make variable the paths came from (``INPUT``, ``FILES``), for the hint.

    Returns:
        ``{object name: path}`` in the order given. Names differing only in case or Unicode
        normalization (NFC ``é`` vs NFD ``é``) stay distinct objects, as Cloud Storage keeps them.

    Raises:
        InputFilesError: a path is missing or is not a regular file, a file name is not a valid
            object name, or two different files share one file name. Every problem is listed.
    """
    problems: list[str] = []
    names: dict[str, Path] = {}
    clashes: dict[str, list[Path]] = {}
    seen: set[Path] = set()
    missing = [path for path in paths if not path.exists()]
    if missing:
        hint = f"quote names with spaces inside {variable}, and write $$ for a $ "
        hint += "(make reads $x as a variable)"
        if any(_UNEXPANDED.search(str(path)) for path in missing):
            hint += f"; no shell expands * ? or ~ inside {variable}: name each file"
        problems.append(f"no such file: {', '.join(map(str, missing))} ({hint})")
    for path in paths:
        if path in missing:
            continue
        if not path.is_file():
            problems.append(f"not a file: {path} (give the CSV files, not their folder)")
            continue
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        if problem := _object_name_problem(prefix + path.name):
            problems.append(f"{path}: {problem}")
            continue
        if path.name in names:
            clashes.setdefault(path.name, [names[path.name]]).append(path)
            continue
        names[path.name] = path
    for name, clashing in clashes.items():
        problems.append(
            f"{len(clashing)} different files would all become gs://…/{prefix}{name}, each upload "
            f"replacing the last: {', '.join(map(str, clashing))} (rename them, or drop them in "
            "separate runs)"
        )
    if problems:
        raise InputFilesError("; ".join(problems))
    return {prefix + name: path for name, path in names.items()}


def _object_name_problem(name: str) -> str | None:
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "its file name is not valid UTF-8, so it cannot be a Cloud Storage object name"
    if "\r" in name or "\n" in name:
        return "its file name holds a line break, which Cloud Storage object names may not"
    if len(encoded) > MAX_OBJECT_NAME_BYTES:
        return f"the object name would be {len(encoded)} bytes; Cloud Storage allows {MAX_OBJECT_NAME_BYTES}"
    return None

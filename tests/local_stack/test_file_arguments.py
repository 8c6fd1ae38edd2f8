"""``make run INPUT=`` and ``make drop FILES=``: one shell-quoted value, split by shlex, run by no shell."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AWKWARD = ["a b.csv", "x (2) [late].csv", "ü é ;&|`.csv", "it's.csv"]


def _quoted(names: list[str]) -> str:
    return " ".join(shlex.quote(name) for name in names)


def _make(make_target: str, variable: str, value: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            "venv",
            "-o",
            "jars",
            make_target,
            f"{variable}={value}",
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(home)},
        timeout=120,
    )


@pytest.mark.parametrize(("make_target", "variable"), [("run", "INPUT"), ("drop", "FILES")])
def test_every_awkward_name_arrives_whole(make_target: str, variable: str, tmp_path: Path) -> None:
    # The files do not exist, so each tool stops at its argument check, naming exactly what it got.
    names = [str(tmp_path / name) for name in AWKWARD]
    done = _make(make_target, variable, _quoted(names), tmp_path)
    assert done.returncode != 0
    hint = f"quote names with spaces inside {variable}, and write $$ for a $ (make reads $x as a variable)"
    assert f"no such file: {', '.join(names)} ({hint})" in done.stderr


@pytest.mark.parametrize(("make_target", "variable"), [("run", "INPUT"), ("drop", "FILES")])
@pytest.mark.parametrize(
    ("name", "make_gives"), [("price$x.csv", "price.csv"), ("$HOME.csv", "OME.csv"), ("a$(b).csv", "a.csv")]
)
def test_a_single_dollar_that_make_ate_gets_the_double_dollar_hint(
    make_target: str, variable: str, name: str, make_gives: str, tmp_path: Path
) -> None:
    """make expands $x (and $(b), $H...) before the tool sees the value, so the tool is given a name
    that is not there; its error names what it got and says how to write a $ for make."""
    (tmp_path / name).write_text("tracking_num\n")
    done = _make(make_target, variable, shlex.quote(str(tmp_path / name)), tmp_path)
    assert done.returncode != 0
    assert f"no such file: {tmp_path / make_gives} (" in done.stderr
    assert "write $$ for a $ (make reads $x as a variable)" in done.stderr


@pytest.mark.parametrize(("make_target", "variable"), [("run", "INPUT"), ("drop", "FILES")])
def test_two_files_with_one_name_are_refused_before_any_upload(
    make_target: str, variable: str, tmp_path: Path
) -> None:
    # Without the check the second upload would silently replace the first object.
    paths = []
    for day in ("mon", "tue"):
        (tmp_path / day).mkdir()
        paths.append(tmp_path / day / "orders (1).csv")
        paths[-1].write_text("tracking_num\n")
    done = _make(make_target, variable, _quoted([str(path) for path in paths]), tmp_path)
    assert done.returncode != 0
    assert (
        f"2 different files would all become gs://…/staging_zn/orders (1).csv, each upload replacing "
        f"the last: {paths[0]}, {paths[1]}"
    ) in done.stderr
    assert "no local stack" not in done.stderr  # refused before it ever looked for the stack

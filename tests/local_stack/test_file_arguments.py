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


@pytest.mark.parametrize(("make_target", "variable"), [("run", "INPUT"), ("drop", "FILES")])
def test_every_awkward_name_arrives_whole(make_target: str, variable: str, tmp_path: Path) -> None:
    # The files do not exist, so each tool stops at its argument check, naming exactly what it got.
    names = [str(tmp_path / name) for name in AWKWARD]
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            "venv",
            "-o",
            "jars",
            make_target,
            f"{variable}={_quoted(names)}",
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode != 0
    assert f"no such file: {', '.join(names)} (quote names with spaces inside {variable})" in done.stderr

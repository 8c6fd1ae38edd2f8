"""make test's split between xdist workers: shared fixtures are built once, everything else spreads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.work_units import SHARED, work_unit

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# a fixture every test of a module or folder shares, which each worker would build again
SHARED_SCOPE = re.compile(r"@pytest\.fixture\(scope=\"(module|package|session)\"")


def _relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_every_module_or_folder_with_a_shared_fixture_is_one_unit() -> None:
    holders = [
        path
        for path in TESTS.rglob("*.py")
        if path != TESTS / "conftest.py" and SHARED_SCOPE.search(path.read_text(encoding="utf-8"))
    ]
    assert holders, "the pattern finds the fixtures it is meant to find"
    for path in holders:
        where = _relative(path.parent) + "/" if path.name == "conftest.py" else _relative(path)
        covered = [prefix for prefix in SHARED if prefix.startswith(where) or where.startswith(prefix)]
        assert covered, f"{where} shares a fixture but is not in tests/work_units.SHARED"


def test_a_test_is_its_own_unit_unless_it_shares() -> None:
    spark = "tests/spark_tasks/test_merge.py::test_an_older_file_never_rolls_a_parcel_back"
    assert work_unit(spark) == spark
    assert work_unit("tests/live/test_operations.py::test_a_failed_task_alerts_by_mail_and_slack") == "live"
    assert work_unit("tests/live/test_ui_trigger.py::test_trigger_dry_run") == "live"
    assert work_unit("tests/spark_tasks/test_crash_recovery.py::test_a[stage]") == "crash_recovery"


def test_xdist_runs_a_shared_unit_on_one_worker(tmp_path: Path) -> None:
    """The real scheduler on two workers: six live tests on one worker, six others on both."""
    seen = tmp_path / "seen"
    seen.mkdir()
    for folder in ("live", "spark_tasks"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
        (tmp_path / "tests" / folder / f"test_{folder}_probe.py").write_text(
            "import os, pathlib, time\n"
            + "".join(
                f"def test_{n}():\n    time.sleep(0.3)\n"
                f"    worker = os.environ['PYTEST_XDIST_WORKER']\n"
                f"    pathlib.Path({str(seen)!r}, '{folder}-{n}').write_text(worker)\n"
                for n in range(6)
            )
        )
    (tmp_path / "tests" / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "from tests.work_units import make_scheduler\n\n\n"
        "def pytest_xdist_make_scheduler(config, log):\n    return make_scheduler(config, log)\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers = {path.name: path.read_text() for path in seen.iterdir()}
    assert len(workers) == 12
    assert len({w for name, w in workers.items() if name.startswith("live-")}) == 1
    assert set(workers.values()) == {"gw0", "gw1"}  # the rest spread over both

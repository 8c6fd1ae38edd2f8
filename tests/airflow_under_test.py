"""Which Airflow the end-to-end tests run: this venv's, or a lane's (``make lane-e2e-<lane>``).

A module of its own, not ``tests/conftest.py``: importing conftest from a test module would run
its set-up (a new Airflow home in ``os.environ``) a second time.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from importlib.metadata import version

# The Python whose Airflow runs ``airflow dags test`` in the end-to-end tests: this venv's by default;
# ``make lane-e2e-<lane>`` points it at a lane's venv (another Airflow line, same stack and Spark).
AIRFLOW_PYTHON = os.environ.get("ORDER_TRACKING_TEST_AIRFLOW_PYTHON") or sys.executable


@functools.cache
def airflow_under_test() -> str:
    """The version of the Airflow ``AIRFLOW_PYTHON`` runs (``"3.3.1"``, ``"2.11.2"``)."""
    if sys.executable == AIRFLOW_PYTHON:
        return version("apache-airflow")
    return subprocess.run(
        [AIRFLOW_PYTHON, "-c", "import airflow; print(airflow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

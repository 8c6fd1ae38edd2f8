"""``make up``: the long-running local mode, with the Airflow UI on http://127.0.0.1:8080.

Starts the GCS emulator (objects kept in ``.local/gcs``), the local Databricks runner (its Spark
JVM at once) and Airflow's api-server, scheduler, dag-processor and triggerer, all on 127.0.0.1,
until Ctrl-C or SIGTERM. Log in as ``admin`` / ``admin``. Drop files with
``make drop FILES="a.csv b.csv"``; the DAG runs every minute.

Stopping: the first SIGINT, SIGTERM or SIGHUP ends what the main thread was doing and starts the stop;
every later one is ignored, so the clean-up is never interrupted (``make`` passes a SIGTERM sent
to its process group on to this process, which then gets it twice). The stop is bounded: the
services get SIGTERM then SIGKILL, the runner's runs are abandoned, the SparkSession is stopped
and its JVM ended, then every process this one started is killed (``psutil``). A watchdog ends
the process :data:`HARD_STOP_SECONDS` after the first signal should any of that hang, so the
whole stack is gone within 10 s.

Its folder and ports come from :mod:`local_stack.settings` (``LOCAL_STACK_DIR``,
``LOCAL_STACK_*_PORT`` move them).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from local_stack.airflow_env import dag_settings_problem, overridden_feed_notes
from local_stack.airflow_services import ADMIN_PASSWORD, ADMIN_USER, ServiceStartError
from local_stack.local_stack import LocalStack
from local_stack.processes import end_descendants
from local_stack.settings import API_PORT, BUCKET, DAG_ID, DATABRICKS_PORT, GCS_PORT, STACK_DIR

UI_USER, UI_PASSWORD = ADMIN_USER, ADMIN_PASSWORD

STOP_SECONDS = 6.0  # the ordered stop (services, runner, Spark, emulator)
SWEEP_GRACE_SECONDS = 1.0  # then SIGTERM -> SIGKILL for whatever this process still has running
HARD_STOP_SECONDS = 9.5  # after the first signal: kill everything and exit, whatever is going on
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal closed


class StopRequested(KeyboardInterrupt):
    """The first SIGINT or SIGTERM, raised in the main thread: the stack stops."""


class OneStop:
    """Signal handling of ``make up``: the first SIGINT/SIGTERM raises :class:`StopRequested`,
    later ones are ignored; :meth:`stopping` (also called by the first signal) ignores them from
    then on and arms the watchdog."""

    def __init__(self) -> None:
        self._watchdog: threading.Timer | None = None

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._watchdog is not None:  # the stop already runs: a pending signal must not cut it short
            return
        self.stopping()
        raise StopRequested(signal.Signals(signum).name)

    def stopping(self) -> None:
        """From now on the stop runs: ignore stop signals, end the process if it takes too long."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if self._watchdog is None:
            self._watchdog = threading.Timer(HARD_STOP_SECONDS, _hard_stop)
            self._watchdog.daemon = True
            self._watchdog.start()


def _hard_stop() -> None:
    print(f"the stop took over {HARD_STOP_SECONDS:.0f} s: killing what is left", file=sys.stderr, flush=True)
    end_descendants(grace=0)
    os._exit(1)


def _serve(stack: LocalStack) -> None:
    """Start everything, print where it is, then watch the services until a signal or a crash."""
    stack.start()  # emulator and runner
    stack.warm_up()  # the JVM starts while Airflow does, not in the first run
    services = stack.start_airflow(STACK_DIR / "airflow", API_PORT, log_dir=STACK_DIR / "logs")
    try:
        services.wait_for_dag(DAG_ID)
    except ServiceStartError as error:  # keep the UI up: it shows import errors too
        print(error, file=sys.stderr, flush=True)
    print(
        f"Airflow UI: {services.url} (login {UI_USER} / {UI_PASSWORD})\n"
        f"GCS emulator: {stack.gcs_url} (bucket {BUCKET}); Databricks runner: {stack.databricks_url}\n"
        f"Delta tables: {stack.warehouse}; service logs: {STACK_DIR / 'logs'}\nCtrl-C stops everything.",
        flush=True,
    )
    while True:
        services.check_running()
        time.sleep(1)


def main() -> int:
    """Run until a signal (exit 0) or a service's crash (exit 1, with its log tail)."""
    stop = OneStop()
    stop.install()
    for note in overridden_feed_notes():
        print(note, flush=True)
    if problem := dag_settings_problem():
        print(f"error: {problem}", file=sys.stderr, flush=True)
        return 2
    for folder in ("warehouse", "gcs", "airflow", "logs"):
        (STACK_DIR / folder).mkdir(parents=True, exist_ok=True)
    stack = LocalStack(
        STACK_DIR / "warehouse",
        gcs_port=GCS_PORT,
        gcs_dir=STACK_DIR / "gcs",
        databricks_port=DATABRICKS_PORT,
        airflow_home=STACK_DIR / "airflow",
        api_port=API_PORT,
        log_dir=STACK_DIR / "logs",
        stop_timeout=STOP_SECONDS,
    )
    code = 0
    try:
        try:
            _serve(stack)
        except StopRequested as signalled:
            print(f"{signalled}: stopping (further signals are ignored)", flush=True)
        except ServiceStartError as error:
            print(f"{error}\nStopping.", file=sys.stderr, flush=True)
            code = 1
    except StopRequested:  # the first signal came while an error was being reported
        pass
    finally:
        stop.stopping()
        started = time.monotonic()
        stack.stop(timeout=STOP_SECONDS)
        end_descendants(grace=SWEEP_GRACE_SECONDS)
        print(f"stopped in {time.monotonic() - started:.1f} s", flush=True)
    return code


def _exit(code: int) -> None:
    """Exit at once: by now everything this process started has been stopped, and the
    interpreter's own teardown (its modules' objects: the Airflow and Databricks clients, FastAPI)
    takes 3-5 s more on two cores."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())

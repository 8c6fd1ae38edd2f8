"""``make up``: the long-running local mode, with the Airflow UI on http://127.0.0.1:8080.

Starts the GCS emulator (objects kept in ``.local/gcs``), the local Databricks runner and Airflow's
api-server, scheduler, dag-processor and triggerer, all on 127.0.0.1, until Ctrl-C. Log in as
``admin`` / ``admin``. Drop files with ``make drop FILES="a.csv b.csv"``; the DAG runs every minute.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from local_stack.airflow_env import LOCAL_DIR, LOCAL_TOKEN, LocalStackAddresses, airflow_env
from local_stack.databricks_runner import LocalDatabricks, RunnerServer
from local_stack.gcs_emulator import GcsEmulator
from local_stack.spark import build_local_spark

GCS_PORT = 9023
DATABRICKS_PORT = 8089
BUCKET = "tracking_orders"
UI_USER, UI_PASSWORD = "admin", "admin"  # local-only login, documented in the README
AIRFLOW_SERVICES = (
    ["api-server", "--host", "127.0.0.1", "--port", "8080"],
    ["scheduler", "--skip-serve-logs"],  # logs are read from local files: no log server to expose
    ["dag-processor"],
    ["triggerer", "--skip-serve-logs"],
)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    warehouse = LOCAL_DIR / "warehouse"
    gcs_dir = LOCAL_DIR / "gcs"
    airflow_home = LOCAL_DIR / "airflow"
    for folder in (warehouse, gcs_dir, airflow_home, LOCAL_DIR / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    stack = LocalStackAddresses(f"http://127.0.0.1:{GCS_PORT}", DATABRICKS_PORT, warehouse)
    env = airflow_env(airflow_home, stack)
    passwords = airflow_home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({UI_USER: UI_PASSWORD}))
    env |= {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:8080/execution/",
    }
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
    )

    service = LocalDatabricks(
        lambda: build_local_spark(stack.gcs_url, warehouse), f"http://127.0.0.1:{DATABRICKS_PORT}"
    )
    processes: list[subprocess.Popen[bytes]] = []
    with GcsEmulator(GCS_PORT, BUCKET, data_dir=gcs_dir):
        runner = RunnerServer(service, DATABRICKS_PORT, LOCAL_TOKEN).start()
        try:
            for args in AIRFLOW_SERVICES:
                log = (LOCAL_DIR / "logs" / f"airflow-{args[0]}.log").open("ab")
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "airflow", *args],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            print(
                f"Airflow UI: http://127.0.0.1:8080 (login {UI_USER} / {UI_PASSWORD})\n"
                f"GCS emulator: {stack.gcs_url} (bucket {BUCKET}); Databricks runner: http://127.0.0.1:{DATABRICKS_PORT}\n"
                f"Delta tables: {warehouse}; service logs: {LOCAL_DIR / 'logs'}\nCtrl-C stops everything.",
                flush=True,
            )
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
            while all(proc.poll() is None for proc in processes):
                time.sleep(1)
            print("an Airflow service exited; see the logs above. Stopping.", file=sys.stderr)
        except KeyboardInterrupt:
            pass
        finally:
            for proc in processes:
                proc.terminate()
            for proc in processes:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            runner.stop()


if __name__ == "__main__":
    main()

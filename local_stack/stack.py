"""``make up``: the long-running local mode, with the Airflow UI on http://127.0.0.1:8080.

Starts the GCS emulator (objects kept in ``.local/gcs``), the local Databricks runner and Airflow's
api-server, scheduler, dag-processor and triggerer, all on 127.0.0.1, until Ctrl-C. Log in as
``admin`` / ``admin``. Drop files with ``make drop FILES="a.csv b.csv"``; the DAG runs every minute.
"""

from __future__ import annotations

import signal
import sys
import time

from local_stack.airflow_env import DEFAULT_API_PORT, LOCAL_DIR, LOCAL_TOKEN, LocalStackAddresses, airflow_env
from local_stack.airflow_services import ADMIN_PASSWORD, ADMIN_USER, AirflowServices, ServiceStartError
from local_stack.databricks_runner import LocalDatabricks, RunnerServer
from local_stack.gcs_emulator import GcsEmulator
from local_stack.spark import build_local_spark

GCS_PORT = 9023
DATABRICKS_PORT = 8089
API_PORT = DEFAULT_API_PORT
BUCKET = "tracking_orders"
DAG_ID = "order_tracking_incremental_load"
UI_USER, UI_PASSWORD = ADMIN_USER, ADMIN_PASSWORD


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    warehouse = LOCAL_DIR / "warehouse"
    gcs_dir = LOCAL_DIR / "gcs"
    airflow_home = LOCAL_DIR / "airflow"
    for folder in (warehouse, gcs_dir, airflow_home, LOCAL_DIR / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    stack = LocalStackAddresses(f"http://127.0.0.1:{GCS_PORT}", DATABRICKS_PORT, warehouse)
    services = AirflowServices(
        airflow_env(airflow_home, stack, api_port=API_PORT), airflow_home, API_PORT, LOCAL_DIR / "logs"
    )
    service = LocalDatabricks(
        lambda: build_local_spark(stack.gcs_url, warehouse), f"http://127.0.0.1:{DATABRICKS_PORT}"
    )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with GcsEmulator(GCS_PORT, BUCKET, data_dir=gcs_dir):
        runner = RunnerServer(service, DATABRICKS_PORT, LOCAL_TOKEN).start()
        try:
            services.start()
            try:
                services.wait_for_dag(DAG_ID)
            except ServiceStartError as error:  # keep the UI up: it shows import errors too
                print(error, file=sys.stderr, flush=True)
            print(
                f"Airflow UI: {services.url} (login {UI_USER} / {UI_PASSWORD})\n"
                f"GCS emulator: {stack.gcs_url} (bucket {BUCKET}); Databricks runner: http://127.0.0.1:{DATABRICKS_PORT}\n"
                f"Delta tables: {warehouse}; service logs: {LOCAL_DIR / 'logs'}\nCtrl-C stops everything.",
                flush=True,
            )
            while True:
                services.check_running()
                time.sleep(1)
        except ServiceStartError as error:
            print(f"{error}\nStopping.", file=sys.stderr)
        except KeyboardInterrupt:
            pass
        finally:
            services.stop()
            runner.stop()


if __name__ == "__main__":
    main()

"""Names and addresses every local tool agrees on: the bucket, its staging prefix, the DAG id, and
where ``make up`` listens and keeps its files.

``LOCAL_STACK_DIR`` (default ``.local``), ``LOCAL_STACK_GCS_PORT`` (9023),
``LOCAL_STACK_DATABRICKS_PORT`` (8089) and ``LOCAL_STACK_API_PORT`` (8080) move the long-running
stack, e.g. to run a second one next to yours (the stop test does). Tests and ``make run`` use free
ports instead. This module imports nothing heavy, so ``make drop`` starts at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from local_stack.airflow_env import DEFAULT_API_PORT, LOCAL_DIR, LOCAL_FEED

BUCKET = LOCAL_FEED["ORDER_TRACKING_BUCKET"]
STAGING_PREFIX = LOCAL_FEED["ORDER_TRACKING_STAGING_PREFIX"]
DAG_ID = "order_tracking_incremental_load"

GCS_PORT = int(os.environ.get("LOCAL_STACK_GCS_PORT") or 9023)
DATABRICKS_PORT = int(os.environ.get("LOCAL_STACK_DATABRICKS_PORT") or 8089)
API_PORT = int(os.environ.get("LOCAL_STACK_API_PORT") or DEFAULT_API_PORT)
STACK_DIR = Path(os.environ.get("LOCAL_STACK_DIR") or LOCAL_DIR)

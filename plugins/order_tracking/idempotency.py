"""Deterministic Databricks idempotency tokens (at most 64 characters).

The same DAG run, task and attempt number always give the same token, so a request that is sent
again (an HTTP retry after a 503, a task retry after a worker died) finds the run or cluster the
first request created instead of creating a second one.
"""

from __future__ import annotations

import hashlib

TOKEN_LENGTH = 48  # Databricks accepts at most 64 characters


def step_token(dag_id: str, run_id: str, step: str, attempt: int = 0) -> str:
    """The token of one step (a task id, or ``cluster``) of one DAG run; ``attempt`` counts fresh starts."""
    material = f"{dag_id}\n{run_id}\n{step}\n{attempt}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:TOKEN_LENGTH]

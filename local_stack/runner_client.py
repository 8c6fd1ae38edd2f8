"""The local Databricks runner as tests and benchmarks see it: over HTTP, never by its attributes.

Reads the runner's test endpoints (``/local/stats``, ``/local/runs``, ``/local/faults``; see
:mod:`local_stack.databricks_runner`) and the two Databricks reads they need (``jobs/runs/get``,
``clusters/get``), so a test drives the runner exactly as the product does: through its API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from local_stack.airflow_env import LOCAL_TOKEN


class RunnerApiError(RuntimeError):
    """The runner refused a request: ``status`` is the HTTP status, the message its body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class RunnerClient:
    """HTTP client of one local runner at ``http://127.0.0.1:<port>`` (bearer ``token``)."""

    def __init__(self, port: int, token: str = LOCAL_TOKEN, host: str = "127.0.0.1") -> None:
        self.port = port
        self.url = f"http://{host}:{port}"
        self._token = token

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"}
        # trust_env=False: a proxy from the environment must never sit between us and loopback.
        with httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False) as http:
            response = http.request(method, path, **kwargs)
        if response.is_error:
            raise RunnerApiError(response.status_code, response.text[:2000])
        return response.json()

    def stats(self) -> dict[str, Any]:
        """``GET /local/stats``: ``{"cluster_starts": n, "api_calls": {endpoint: n}, "runs": n,
        "clusters_running": n, "runs_cancelled": n, "runs_timed_out": n, "spark_jobs_active": n}``."""
        return dict(self._call("GET", "/local/stats"))

    def api_calls(self, endpoint: str | None = None) -> int:
        """Calls so far of one Databricks endpoint (``runs/submit``, ``clusters/create``...), or of all."""
        calls: dict[str, int] = self.stats()["api_calls"]
        return calls.get(endpoint, 0) if endpoint else sum(calls.values())

    def runs_of(self, entry_point: str) -> list[dict[str, Any]]:
        """``GET /local/runs``: every run of a wheel entry point, oldest first: ``run_id``, ``state``
        (the Jobs API's run state), ``cluster`` (existing cluster id or None), ``python_wheel_task``."""
        return list(self._call("GET", "/local/runs", params={"entry_point": entry_point})["runs"])

    def add_faults(
        self,
        http: Mapping[str, int] | None = None,
        tasks: Mapping[str, int] | None = None,
        delays: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """``POST /local/faults``: ``http`` {endpoint: n} 503s after the work, ``tasks`` {entry point:
        n} failed runs, ``delays`` {entry point: seconds} of a slow first Spark job (0 clears one).
        Returns the faults still pending, in the same shape."""
        body = {"http": dict(http or {}), "tasks": dict(tasks or {}), "delays": dict(delays or {})}
        return dict(self._call("POST", "/local/faults", json=body))

    def clear_faults(self) -> dict[str, Any]:
        """``DELETE /local/faults``: drop every pending fault."""
        return dict(self._call("DELETE", "/local/faults"))

    def get(self, run_id: int) -> dict[str, Any]:
        """``jobs/runs/get`` of a run or task run (raises :class:`RunnerApiError` if unknown)."""
        return dict(self._call("GET", "/api/2.2/jobs/runs/get", params={"run_id": run_id}))

    def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        """``clusters/get`` (raises :class:`RunnerApiError` for an unknown or deleted cluster)."""
        return dict(self._call("GET", "/api/2.1/clusters/get", params={"cluster_id": cluster_id}))

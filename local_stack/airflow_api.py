"""A small client for Airflow 3's REST API v2, for tests and local tools driving a running Airflow.

It logs in like a user (``POST /auth/token`` of the simple auth manager), triggers runs, watches
them and, when a run does not end as expected, says why: every task's state and the tail of the
logs of the tasks that did not succeed, so a failing test needs no second run to be understood.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
QUIET_TASK_STATES = frozenset({"success", "skipped"})  # not worth a log tail in a failure message


class RunDidNotEndAsExpectedError(AssertionError):
    """A DAG run timed out or ended in another state; the message carries the evidence."""


def _path(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


class AirflowApi:
    """REST API v2 client authenticated with a simple-auth-manager user (a fresh token on 401)."""

    def __init__(self, base_url: str, username: str = "admin", password: str = "admin") -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        # trust_env=False: a proxy from the environment must never sit between us and loopback.
        self._http = httpx.Client(base_url=self.base_url, timeout=30, trust_env=False)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        response = self._http.post("/auth/token", json=self._credentials)
        response.raise_for_status()
        self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated call to ``/api/v2/<path>``; raises on an HTTP error, with its body."""
        extra_headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(2):
            headers = extra_headers | {"Authorization": f"Bearer {self._token or self.token()}"}
            response = self._http.request(method, f"/api/v2/{path}", headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 0:
                self._token = None  # expired or from an earlier api-server: log in again
                continue
            break
        if response.is_error:
            raise httpx.HTTPStatusError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}",
                request=response.request,
                response=response,
            )
        return response

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health`` (no login needed): metadatabase, scheduler, triggerer, dag processor."""
        response = self._http.get("/api/v2/monitor/health")
        response.raise_for_status()
        return dict(response.json())

    def dag(self, dag_id: str) -> dict[str, Any]:
        return dict(self.request("GET", _path("dags", dag_id)).json())

    def dag_details(self, dag_id: str) -> dict[str, Any]:
        """The DAG with its params (``params``), as the trigger form sees it."""
        return dict(self.request("GET", _path("dags", dag_id, "details")).json())

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "importErrors").json()["import_errors"])

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Trigger a run now (no logical date, as the UI's trigger button does); return its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        return str(self.request("POST", _path("dags", dag_id, "dagRuns"), json=body).json()["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", _path("dags", dag_id, "dagRuns", run_id)).json())

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.run(dag_id, run_id)["state"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.request("GET", _path("dags", dag_id, "dagRuns")).json()["dag_runs"])

    def set_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        """Mark a run ``success``, ``failed`` or ``queued`` (e.g. to end a stuck run after a test)."""
        self.request("PATCH", _path("dags", dag_id, "dagRuns", run_id), json={"state": state})

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """All task instances of a run, mapped ones included (``map_index`` >= 0)."""
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances")
        return list(self.request("GET", path, params={"limit": 1000}).json()["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id or task_id[map_index]: state}``."""
        return {_label(ti): ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """Mark a task instance ``failed`` or ``success`` as a user would in the UI (kills it if running)."""
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances", task_id)
        self.request("PATCH", path, json={"new_state": state})

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """The value a task pushed under ``key``, or None if it has pushed none."""
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances", task_id, "xcomEntries", key)
        try:
            return self.request("GET", path).json()["value"]
        except httpx.HTTPStatusError as error:
            if error.response.status_code == 404:
                return None
            raise

    def clear_tasks(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Sequence[str],
        only_failed: bool = False,
        include_downstream: bool = True,
    ) -> list[dict[str, Any]]:
        """Clear tasks of a run (and, as the UI's Clear does by default, their downstream tasks) so
        the scheduler runs them again; return the cleared task instances."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": list(task_ids),
            "only_failed": only_failed,
            "include_downstream": include_downstream,
            "reset_dag_runs": True,
        }
        path = _path("dags", dag_id, "clearTaskInstances")
        return list(self.request("POST", path, json=body).json()["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """One try's log as text lines (``timestamp level event``), from the structured log API."""
        path = _path("dags", dag_id, "dagRuns", run_id, "taskInstances", task_id, "logs", str(try_number))
        response = self.request(
            "GET",
            path,
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/json"},
        )
        content = response.json().get("content", [])
        if isinstance(content, str):
            return content
        lines = []
        for item in content:
            if not isinstance(item, dict):
                lines.append(str(item))
                continue
            level = item.get("level", "")
            lines.append(f"{item.get('timestamp', '')} {level} {item.get('event', '')}".strip())
            lines += _error_lines(item.get("error_detail"))
        return "\n".join(lines)

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 300,
        expect: str | None = "success",
        poll_seconds: float = 1.0,
    ) -> str:
        """Poll until the run is terminal; return its state.

        Raises ``RunDidNotEndAsExpectedError`` on timeout or, if ``expect`` is set, on another end
        state, with task states and the tails of the logs of tasks that did not succeed.
        """
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL_RUN_STATES:
                if expect is None or state == expect:
                    return state
                problem = f"run {run_id} of {dag_id} ended {state!r}, expected {expect!r}"
                break
            if time.monotonic() >= deadline:
                problem = f"run {run_id} of {dag_id} still {state!r} after {timeout:.0f} s"
                break
            time.sleep(poll_seconds)
        raise RunDidNotEndAsExpectedError(f"{problem}\n{self.describe_run(dag_id, run_id)}")

    def describe_run(self, dag_id: str, run_id: str, log_lines: int = 40) -> str:
        """Task states, then the log tail of every task that neither succeeded nor was skipped."""
        instances = self.task_instances(dag_id, run_id)
        out = ["task states:"]
        out += [f"  {_label(ti)}: {ti['state']} (try {ti.get('try_number')})" for ti in instances]
        for ti in instances:
            if ti["state"] in QUIET_TASK_STATES or not ti.get("try_number"):
                continue
            try:
                log = self.task_log(dag_id, run_id, ti["task_id"], ti["try_number"], ti.get("map_index", -1))
            except httpx.HTTPError as error:
                log = f"(log not available: {error})"
            tail = log.splitlines()[-log_lines:]
            out.append(f"--- log tail of {_label(ti)}, try {ti['try_number']} ---")
            out += tail
        return "\n".join(out)


def _label(ti: Mapping[str, Any]) -> str:
    map_index = ti.get("map_index", -1)
    return f"{ti['task_id']}[{map_index}]" if map_index is not None and map_index >= 0 else str(ti["task_id"])


def _error_lines(detail: Any) -> list[str]:
    """A structured exception as ``type: value`` plus its innermost frames, not a page of dicts."""
    if not isinstance(detail, list):
        return [f"    {detail}"] if detail else []
    lines = []
    for exc in detail:
        if not isinstance(exc, dict):
            lines.append(f"    {exc}")
            continue
        lines.append(f"    {exc.get('exc_type')}: {exc.get('exc_value')}")
        lines += [
            f"      at {f.get('filename')}:{f.get('lineno')} {f.get('name')}"
            for f in exc.get("frames", [])[-3:]
        ]
    return lines

"""Airflow 3's REST API v2 through the official client (``apache-airflow-client``, versioned with
Airflow), for the local stack, its tests and the benchmark.

What this module adds to the generated client: the simple auth manager's login (``POST
/auth/token``; a fresh token on a 401), answers as plain JSON-shaped dicts (ISO date strings,
state strings) for callers that compare and print them, a wait for a run's end on
:func:`local_stack.polling.poll` and, when a run does not end as expected, the evidence: every
task's state and the log tail of each task that did not succeed, so a failing test needs no second
run to be understood.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import airflow_client.client as af
import httpx
from airflow_client.client.exceptions import ApiException, NotFoundException, UnauthorizedException
from pydantic import BaseModel

from local_stack.polling import PollTimeoutError, poll

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
QUIET_TASK_STATES = frozenset({"success", "skipped"})  # not worth a log tail in a failure message
T = TypeVar("T")


class RunDidNotEndAsExpectedError(AssertionError):
    """A DAG run timed out or ended in another state; the message carries the evidence."""


class AirflowApi:
    """REST API v2 as a simple-auth-manager user; every method raises the client's
    ``ApiException`` (``NotFoundException`` for a 404...) on an HTTP error, with the body."""

    def __init__(self, base_url: str, username: str = "admin", password: str = "admin") -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        config = af.Configuration(host=self.base_url)
        config.proxy = None  # a proxy from the environment must never sit between us and loopback
        self._client = af.ApiClient(config)
        self.dags = af.DAGApi(self._client)
        self.dag_runs = af.DagRunApi(self._client)
        self.task_instances_api = af.TaskInstanceApi(self._client)
        self.xcoms = af.XComApi(self._client)
        self.backfills_api = af.BackfillApi(self._client)

    def close(self) -> None:
        """Close the client's pooled connections."""
        self._client.rest_client.pool_manager.clear()

    # --- plumbing ---------------------------------------------------------------------------
    def token(self) -> str:
        """Log in (``POST /auth/token``, not part of the generated client) and keep the token."""
        response = httpx.post(f"{self.base_url}/auth/token", json=self._credentials, trust_env=False)
        response.raise_for_status()
        token = str(response.json()["access_token"])
        self._client.configuration.access_token = token
        return token

    def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One client call, logged in first, and again once if the token was refused (an earlier
        api-server's, or expired)."""
        if self._client.configuration.access_token is None:
            self.token()
        try:
            return method(*args, **kwargs)
        except UnauthorizedException:
            self.token()
            return method(*args, **kwargs)

    def _json(self, value: Any) -> Any:
        """A client model (or a list of them) as the JSON-shaped value the API sent: every field,
        ``None`` ones included (the models' own ``to_dict`` drops some), dates as ISO strings."""
        if isinstance(value, list):
            return [self._json(item) for item in value]
        value = getattr(value, "actual_instance", value)  # an anyOf / oneOf answer's chosen model
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", by_alias=True)
        return self._client.sanitize_for_serialization(value)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw authenticated call to ``/api/v2/<path>`` for what the typed methods do not cover.

        Raises:
            httpx.HTTPStatusError: an HTTP error, with the body in the message.
        """
        token = self._client.configuration.access_token or self.token()
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{self.base_url}/api/v2/{path}"
        response = httpx.request(method, url, headers=headers, timeout=30, trust_env=False, **kwargs)
        if response.is_error:
            raise httpx.HTTPStatusError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}",
                request=response.request,
                response=response,
            )
        return response

    # --- reads ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health`` (no login needed): metadatabase, scheduler, triggerer, dag processor."""
        return dict(self._json(af.MonitorApi(self._client).get_health()))

    def dag(self, dag_id: str) -> dict[str, Any]:
        """The DAG (raises ``NotFoundException`` until the dag-processor has serialized it)."""
        return dict(self._json(self._call(self.dags.get_dag, dag_id)))

    def import_errors(self) -> list[dict[str, Any]]:
        """``[{"filename": ..., "stack_trace": ...}]`` of the DAG files that failed to import."""
        errors = self._call(af.ImportErrorApi(self._client).get_import_errors)
        return list(self._json(errors.import_errors))

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self._json(self._call(self.dag_runs.get_dag_run, dag_id, run_id)))

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.run(dag_id, run_id)["state"])

    def runs(self, dag_id: str, limit: int = 100, newest_first: bool = False) -> list[dict[str, Any]]:
        """The DAG's runs (at most ``limit``), oldest first unless ``newest_first``."""
        order = ["-id"] if newest_first else ["id"]
        page = self._call(self.dag_runs.get_dag_runs, dag_id, limit=limit, order_by=order)
        return list(self._json(page.dag_runs))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """All task instances of a run, mapped ones included (``map_index`` >= 0)."""
        page = self._call(self.task_instances_api.get_task_instances, dag_id, run_id, limit=1000)
        return list(self._json(page.task_instances))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id or task_id[map_index]: state}``."""
        return {_label(ti): ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """The value a task pushed under ``key`` (as JSON), or None if it has pushed none."""
        try:
            entry = self._call(self.xcoms.get_xcom_entry, dag_id, task_id, run_id, key)
        except NotFoundException:
            return None
        return self._json(entry)["value"]

    def backfills(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's backfills (``completed_at`` is set once the scheduler has closed one)."""
        return list(self._json(self._call(self.backfills_api.list_backfills, dag_id).backfills))

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """One try's log as text lines (``timestamp level event``), from the structured log API.

        Read raw: the client's log model keeps only ``timestamp`` and ``event`` of each line, and
        the level and the exception (``error_detail``) are what a failure message needs.

        Raises:
            ApiException: an HTTP error.
        """
        raw = self._call(
            self.task_instances_api.get_log_without_preload_content,
            dag_id,
            run_id,
            task_id,
            try_number,
            full_content=True,
            map_index=map_index,
            accept="application/json",
        )
        if raw.status >= 400:
            raise ApiException(status=raw.status, reason=raw.reason)
        content = json.loads(raw.data).get("content", [])
        if isinstance(content, str):
            return content
        lines = []
        for item in content or []:
            if not isinstance(item, dict):
                lines.append(str(item))
                continue
            level = item.get("level", "")
            lines.append(f"{item.get('timestamp', '')} {level} {item.get('event', '')}".strip())
            lines += _error_lines(item.get("error_detail"))
        return "\n".join(lines)

    # --- actions ----------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Trigger a run now (no logical date, as the UI's trigger button does); return its run id."""
        body = af.TriggerDAGRunPostBody(logical_date=None, conf=dict(conf or {}), dag_run_id=run_id)
        return str(self._call(self.dag_runs.trigger_dag_run, dag_id, body).dag_run_id)

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """Mark a task instance ``failed`` or ``success`` as a user would in the UI (kills it if running)."""
        body = af.PatchTaskInstanceBody(new_state=af.TaskInstanceState(state))
        self._call(self.task_instances_api.patch_task_instance, dag_id, run_id, task_id, body)

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
        body = af.ClearTaskInstancesBody(
            dry_run=False,
            dag_run_id=run_id,
            task_ids=[af.ClearTaskInstancesBodyTaskIdsInner(task_id) for task_id in task_ids],
            only_failed=only_failed,
            include_downstream=include_downstream,
            reset_dag_runs=True,
        )
        cleared = self._call(self.task_instances_api.post_clear_task_instances, dag_id, body)
        return list(self._json(cleared.task_instances))

    # --- waiting, and saying why ------------------------------------------------------------
    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 300,
        expect: str | None = "success",
        poll_seconds: float = 1.0,
    ) -> str:
        """Poll until the run is terminal; return its state.

        Raises:
            RunDidNotEndAsExpectedError: on timeout or, if ``expect`` is set, on another end state,
                with task states and the tails of the logs of tasks that did not succeed.
        """
        try:
            state = poll(
                lambda: self.run_state(dag_id, run_id),
                until=TERMINAL_RUN_STATES.__contains__,
                timeout=timeout,
                interval=poll_seconds,
                what=f"run {run_id} of {dag_id} ending",
            )
        except PollTimeoutError as error:
            raise RunDidNotEndAsExpectedError(f"{error}\n{self.describe_run(dag_id, run_id)}") from None
        if expect is not None and state != expect:
            problem = f"run {run_id} of {dag_id} ended {state!r}, expected {expect!r}"
            raise RunDidNotEndAsExpectedError(f"{problem}\n{self.describe_run(dag_id, run_id)}")
        return state

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
            except ApiException as error:
                log = f"(log not available: HTTP {error.status} {error.reason})"
            out.append(f"--- log tail of {_label(ti)}, try {ti['try_number']} ---")
            out += log.splitlines()[-log_lines:]
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

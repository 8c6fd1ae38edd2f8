"""``runs/submit`` that never starts a second Databricks run for a step, yet can start over after a failure.

Each submission carries a token derived from the DAG run id and task id. Databricks answers a
repeated token with the run it already created, so a retried submission reconnects to a run that
is still going, or reports one that already succeeded. A token whose run *failed* would pin every
Airflow retry to that failure, so the hook then moves on to the step's next attempt token: a
fresh run, and the only case in which a second run of the step is started.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

from order_tracking.idempotency import step_token

log = logging.getLogger(__name__)
MAX_FRESH_STARTS = 20  # far above any retry count; bounds the token walk


class IdempotentDatabricksHook(DatabricksHook):
    """A Databricks hook whose ``submit_run`` reuses a live or successful run of the same step."""

    def __init__(self, *args: Any, token_key: tuple[str, str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_key = token_key

    def submit_run(self, json: dict[str, Any]) -> int:
        if self.token_key is None:
            return super().submit_run(json)
        dag_id, run_id, step = self.token_key
        for attempt in range(MAX_FRESH_STARTS):
            token = step_token(dag_id, run_id, step, attempt)
            databricks_run = super().submit_run({**json, "idempotency_token": token})
            state = self.get_run_state(databricks_run)
            if not state.is_terminal or state.is_successful:
                return databricks_run
            log.info(
                "Databricks run %s of step %s ended %s (%s): starting the step afresh",
                databricks_run,
                step,
                state.result_state,
                state.state_message,
            )
        raise AirflowException(f"step {step} failed {MAX_FRESH_STARTS} times in Databricks; giving up")


class IdempotentSubmitRunOperator(DatabricksSubmitRunOperator):
    """``DatabricksSubmitRunOperator`` whose submissions carry the step's idempotency token."""

    def _get_hook(self, caller: str) -> DatabricksHook:
        return IdempotentDatabricksHook(
            self.databricks_conn_id,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
            retry_args=self.databricks_retry_args,
            caller=caller,
        )

    def execute(self, context: Any) -> Any:
        hook = self._hook
        assert isinstance(hook, IdempotentDatabricksHook)
        hook.token_key = (self.dag_id, context["run_id"], self.task_id)
        return super().execute(context)

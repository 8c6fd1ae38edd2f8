"""``runs/submit`` that never starts a second Databricks run for a step, yet can start over after a failure.

Each submission carries a token derived from the DAG run id and task id. Databricks answers a
repeated token with the run it already created, so a retried submission reconnects to a run that
is still going, or reports one that already succeeded. A token whose run *failed* would pin every
Airflow retry to that failure, so the hook then moves on to the step's next attempt token: a
fresh run, and the only case in which a second run of the step is started.

A step that outlasts its ``execution_timeout`` has its Databricks run cancelled before the task
fails, deferred or not, so the retry starts from a run that is over. Airflow 3.3 bounds only the
non-deferred part of a task by ``execution_timeout`` (a deferral has no timeout unless the operator
gives one: see the ``TODO: handle timeout in case of deferral`` in ``airflow.sdk.execution_time.
task_runner``), and on a trigger timeout it calls neither ``on_kill`` of the operator nor that of
the trigger (``triggerer_job_runner``: "For timeout, raise immediately without calling on_kill()").
So the operator defers with ``timeout=execution_timeout`` and cancels the run itself when it is
resumed by that timeout. A user who marks the task failed or clears it gets the provider's own
cancel: ``DatabricksExecutionTrigger.on_kill`` (deferred) or ``on_kill`` (running).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators.databricks import XCOM_RUN_ID_KEY, DatabricksSubmitRunOperator

from order_tracking.compat import is_deferral_timeout
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

    def defer(self, *, trigger: Any, method_name: str, kwargs: Any = None, timeout: Any = None) -> NoReturn:
        """Defer, bounded by ``execution_timeout`` when the caller gives no timeout of its own."""
        if timeout is None:
            timeout = self.execution_timeout
        super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Resume after the trigger; on a timeout, cancel the step's Databricks run, then fail.

        Raises:
            TaskDeferralTimeout: the step outlasted ``execution_timeout`` (its run is cancelled);
                ``TaskDeferralError`` on Airflow 2.11 (``compat.is_deferral_timeout``).
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except Exception as error:
            if not is_deferral_timeout(error):
                raise
            run_id = context["ti"].xcom_pull(task_ids=self.task_id, key=XCOM_RUN_ID_KEY)
            if run_id is not None:
                log.warning("step %s timed out: cancelling Databricks run %s", self.task_id, run_id)
                self._hook.cancel_run(int(run_id))
            raise

"""What differs between the Airflow lines the pipeline runs on: 2.11 and 3.1+ (Cloud Composer's images).

This module is the only one that knows the Airflow version. The DAG file and the rest of
``order_tracking`` import from it whatever moved or changed between the lines; everything else
(the providers' operators, sensor, hooks and notifiers) has the same import path and behaviour on
both. Each rule names its source.

- **Import paths.** Airflow 3 moved the DAG-authoring names (``DAG``, ``task``, ``setup``,
  ``teardown``, ``Param``, ``TriggerRule``, ``BaseOperator``, ``XComArg``, ``chain``, ``literal``,
  the task exceptions) to the Task SDK, ``airflow.sdk`` (Airflow 3.0 release notes, "Task SDK" /
  AIP-72; docs: "Public Interface of Airflow", ``airflow.sdk`` namespace). Airflow 2.11 has them
  under ``airflow.models``, ``airflow.decorators``, ``airflow.utils`` and ``airflow.exceptions``.
- **The run deadline.** Airflow 3.0 removed SLAs (release notes: "SLAs have been removed",
  AIP-57 ... replaced by Deadline Alerts); Airflow 3.1 added Deadline Alerts, DAG-level only,
  experimental ("Deadline Alerts are new in Airflow 3.1", docs ``howto/deadline-alerts``), whose
  callbacks run in the triggerer. Airflow 2 has task SLAs (``sla=`` on the task, counted from the
  end of the run's data interval, scheduled runs only) and one DAG-level ``sla_miss_callback``
  called by the DAG processor with ``(dag, task_list, blocking_task_list, slas, blocking_tis)``
  (docs 2.11 "Tasks", "SLAs"; ``example_sla_dag``). :func:`run_deadline` gives each line its own,
  both ending in the same notifiers (``order_tracking.alerts.send_alert``).
- **Deferral timeouts.** A deferral that times out resumes the task through ``__fail__``. Airflow 3
  (the triggerer) sends ``TriggerFailureReason.TRIGGER_TIMEOUT`` and ``resume_execution`` raises
  ``TaskDeferralTimeout`` (``airflow.sdk.bases.operator``); Airflow 2.11 (the scheduler's
  ``check_trigger_timeouts``) sends ``"Trigger/execution timeout"`` and ``resume_execution`` raises
  ``TaskDeferralError`` with that text, and its deferral is bounded by ``execution_timeout`` too
  (``TaskInstance.defer_task``). :func:`is_deferral_timeout` tells the two apart from a trigger
  error. On both lines ``BaseSensorOperator.resume_execution`` turns either into a skip when the
  sensor has ``soft_fail`` (Airflow 2.11: ``except (AirflowException, TaskDeferralError)``), so
  the soft-fail skip of the sensor needs nothing here.
- **Event-driven start.** ``AssetWatcher`` (AIP-82, event-driven scheduling) is new in Airflow 3.0
  (release notes 3.0.0; docs "Event-driven scheduling"): an ``Asset``'s watcher runs a
  ``BaseEventTrigger`` in the triggerer and each event it yields is an asset event that schedules
  the DAGs depending on the asset. Airflow 2.11 has neither (nor ``BaseEventTrigger``), so
  :data:`HAS_ASSET_WATCHERS` is false there and the DAG refuses ``ORDER_TRACKING_TRIGGER=events``
  (``order_tracking.run_start``). The schedule combining the asset with a cron
  (``AssetOrTimeSchedule`` with a ``CronTriggerTimetable``) is in ``airflow.sdk`` from Airflow 3.2
  and in ``airflow.timetables.assets`` / ``airflow.timetables.trigger`` on 3.1; :func:`event_schedule`
  builds it on either. The Google provider's ``PubsubPullTrigger`` takes ``return_immediately``
  in the main lane's 22.8.0 (it warns when it is not given, and ``False`` long-polls instead of
  using Pub/Sub's deprecated ``returnImmediately``), not in the 22.2.2 of Composer's 3.1 and 3.2
  images, which always pulls with ``returnImmediately`` and sleeps ``poke_interval`` between empty
  pulls. :func:`pubsub_watcher_trigger` passes it where the trigger takes it.
- **The trigger form** is the DAG's ``Param``s on both lines (docs "Params"; Airflow 2 renders them
  in "Trigger DAG w/ config", Airflow 3 in the "Trigger Dag" dialog). Mapped tasks
  (``partial().expand_kwargs()``, Airflow 2.4+), setup/teardown (2.7+), deferrable operators and
  task-level notifier lists (2.6+) are the same API on both.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import airflow

# Major and minor of Airflow's own version string ("2.11.1+composer", "3.3.2", "3.4.0.dev0").
_MAJOR, _MINOR = (int(part) for part in airflow.__version__.split(".")[:2])
AIRFLOW_VERSION = (_MAJOR, _MINOR)
AIRFLOW_RELEASE: str = airflow.__version__  # as errors name it
AIRFLOW_3 = AIRFLOW_VERSION >= (3, 0)
# Deadline Alerts exist from Airflow 3.1 (docs howto/deadline-alerts: "new in Airflow 3.1").
HAS_DEADLINE_ALERTS = AIRFLOW_VERSION >= (3, 1)
# Asset watchers, the event-driven start, exist from Airflow 3.0 (AIP-82).
HAS_ASSET_WATCHERS = AIRFLOW_3
# The Airflow lines this package is tested on (README, "Support"): older lines are refused at parse.
OLDEST_SUPPORTED = (2, 11)
if AIRFLOW_VERSION < OLDEST_SUPPORTED or (AIRFLOW_3 and not HAS_DEADLINE_ALERTS):
    raise ImportError(
        f"order_tracking supports Airflow 2.11 and 3.1 or newer, not Airflow {airflow.__version__}"
    )

if TYPE_CHECKING or AIRFLOW_3:
    from airflow.sdk import (
        DAG,
        BaseOperator,
        Param,
        TriggerRule,
        XComArg,
        chain,
        literal,
        setup,
        task,
        teardown,
    )

    try:  # Airflow 3.2+: the task exceptions moved to the Task SDK (3.3's airflow.exceptions re-exports them)
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
    except ImportError:  # Airflow 3.1: still in airflow.exceptions
        from airflow.exceptions import AirflowFailException, AirflowSkipException  # type: ignore[no-redef]
else:  # Airflow 2.11
    from airflow.decorators import setup, task, teardown
    from airflow.exceptions import AirflowFailException, AirflowSkipException
    from airflow.models.baseoperator import BaseOperator, chain
    from airflow.models.dag import DAG
    from airflow.models.param import Param
    from airflow.models.xcom_arg import XComArg
    from airflow.utils.template import literal
    from airflow.utils.trigger_rule import TriggerRule

__all__ = [
    "AIRFLOW_3",
    "AIRFLOW_RELEASE",
    "AIRFLOW_VERSION",
    "DAG",
    "HAS_ASSET_WATCHERS",
    "HAS_DEADLINE_ALERTS",
    "TRIGGER_TIMEOUT",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseOperator",
    "Param",
    "RunDeadline",
    "TriggerRule",
    "XComArg",
    "chain",
    "cron_problem",
    "event_schedule",
    "is_deferral_timeout",
    "literal",
    "notifier_context",
    "pubsub_watcher_trigger",
    "run_deadline",
    "setup",
    "task",
    "teardown",
]


if AIRFLOW_3:
    from airflow.sdk.bases.operator import TriggerFailureReason

    # What a deferral's timeout sends as the ``error`` of its ``__fail__`` resumption.
    TRIGGER_TIMEOUT: str = TriggerFailureReason.TRIGGER_TIMEOUT
else:  # Airflow 2.11: airflow.jobs.scheduler_job_runner.SchedulerJobRunner.check_trigger_timeouts
    TRIGGER_TIMEOUT = "Trigger/execution timeout"


def is_deferral_timeout(error: BaseException) -> bool:
    """Whether ``error``, raised by ``resume_execution``, means the task's deferral timed out (not
    that its trigger failed)."""
    if AIRFLOW_3:
        try:  # Airflow 3.2+
            from airflow.sdk.exceptions import TaskDeferralTimeout
        except ImportError:  # Airflow 3.1
            from airflow.exceptions import TaskDeferralTimeout  # type: ignore[no-redef]

        return isinstance(error, TaskDeferralTimeout)
    from airflow.exceptions import TaskDeferralError

    return isinstance(error, TaskDeferralError) and str(error) == TRIGGER_TIMEOUT


@dataclass(frozen=True)
class RunDeadline:
    """How a run that is not finished in time raises its alert, as arguments for this Airflow line.

    ``dag_kwargs`` go to ``DAG(...)``, ``default_args`` into the DAG's ``default_args`` and
    ``mapped_task_kwargs`` into each mapped task's ``partial(...)``; all are empty when deadlines
    are off.
    """

    dag_kwargs: dict[str, Any] = field(default_factory=dict)
    default_args: dict[str, Any] = field(default_factory=dict)
    mapped_task_kwargs: dict[str, Any] = field(default_factory=dict)


def run_deadline(
    interval: timedelta | None,
    *,
    deadline_callback: Callable[..., Any],
    callback_kwargs: Mapping[str, Any],
    sla_miss_callback: Callable[..., Any] | Sequence[Callable[..., Any]],
) -> RunDeadline:
    """The run deadline on this Airflow line; ``interval`` None turns it off.

    - Airflow 3.1+: one ``DeadlineAlert`` counted from when the run was queued
      (``DeadlineReference.DAGRUN_QUEUED_AT``, which every run type has) whose ``AsyncCallback``
      awaits ``deadline_callback(**callback_kwargs)`` in the triggerer. The callback must live in
      an importable module (the plugins folder), not in the DAG file (docs howto/deadline-alerts,
      "Using Custom Callbacks": the triggerer imports it by path).
    - Airflow 2.11: ``sla=interval`` on every task (default_args) and ``sla_miss_callback`` on the
      DAG. The DAG processor checks SLAs (``[core] check_slas``, on by default) from the end of each
      scheduled run's data interval; manually triggered runs are not checked (docs 2.11 "Tasks",
      section "SLAs"; ``DagFileProcessor.manage_slas``). Mapped tasks cannot have one
      (``MappedOperator.__attrs_post_init__``: "SLAs are unsupported with mapped tasks"), so they
      get ``sla=None``.
    """
    if interval is None:
        return RunDeadline()
    if HAS_DEADLINE_ALERTS:
        from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

        try:  # Airflow 3.2+
            from airflow.sdk.definitions.callback import AsyncCallback
        except ImportError:  # Airflow 3.1 (docs 3.1 howto/deadline-alerts import it from .deadline)
            from airflow.sdk.definitions.deadline import AsyncCallback

        alert = DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=interval,
            callback=AsyncCallback(deadline_callback, kwargs=dict(callback_kwargs)),
        )
        return RunDeadline(dag_kwargs={"deadline": [alert]})
    return RunDeadline(
        dag_kwargs={"sla_miss_callback": sla_miss_callback},
        default_args={"sla": interval},
        mapped_task_kwargs={"sla": None},
    )


def notifier_context(context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A context for calling a notifier's ``notify`` by hand (outside a task or callback).

    Airflow 2.11's ``BaseNotifier._render`` reads ``context["dag"]`` (None gives a plain Jinja
    environment: ``airflow.notifications.basenotifier``, ``Templater.get_template_env``); Airflow
    3's notifiers need no key.
    """
    return {"dag": None, **(context or {})}


def pubsub_watcher_trigger(
    *,
    project_id: str,
    subscription: str,
    gcp_conn_id: str,
    max_messages: int,
    poke_interval: float,
) -> Any:
    """The Google provider's ``PubsubPullTrigger`` as an asset watcher's trigger (a
    ``BaseEventTrigger`` on Airflow 3): it pulls up to ``max_messages`` messages from
    ``projects/<project_id>/subscriptions/<subscription>``, acknowledges them at once (a message
    only wakes the DAG: nothing in it is needed later, and an unacknowledged one would wake it
    again after every ack deadline) and yields one event for them. Building it does no I/O.

    ``return_immediately=False`` (a long poll: a message is seen as soon as it is published) where
    the installed provider takes it (22.8.0); older ones (22.2.2) pull with ``returnImmediately``
    and sleep ``poke_interval`` seconds between empty pulls.
    """
    from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

    kwargs: dict[str, Any] = {
        "project_id": project_id,
        "subscription": subscription,
        "max_messages": max_messages,
        "ack_messages": True,
        "gcp_conn_id": gcp_conn_id,
        "poke_interval": poke_interval,
    }
    if "return_immediately" in inspect.signature(PubsubPullTrigger.__init__).parameters:
        kwargs["return_immediately"] = False
    return PubsubPullTrigger(**kwargs)


def event_schedule(
    *,
    asset_name: str,
    asset_uri: str,
    watcher_name: str,
    trigger: Any,
    safety_cron: str | None,
) -> Any:
    """A DAG ``schedule`` started by ``trigger``'s events and, if ``safety_cron`` is not None, also
    by that cron (UTC): ``AssetOrTimeSchedule(timetable=CronTriggerTimetable(...), assets=[asset])``,
    or ``[asset]`` alone. The asset is ``asset_name`` / ``asset_uri`` with one ``AssetWatcher``.
    Airflow 3 only (:data:`HAS_ASSET_WATCHERS`).

    Raises:
        ValueError: ``safety_cron`` is not a cron expression or preset Airflow accepts (its message).
    """
    if not HAS_ASSET_WATCHERS:
        raise RuntimeError(f"asset watchers need Airflow 3, not Airflow {AIRFLOW_RELEASE}")
    from airflow.sdk import Asset, AssetWatcher

    asset = Asset(name=asset_name, uri=asset_uri, watchers=[AssetWatcher(name=watcher_name, trigger=trigger)])
    if safety_cron is None:
        return [asset]
    try:  # Airflow 3.2+
        from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable
    except ImportError:  # Airflow 3.1
        from airflow.timetables.assets import AssetOrTimeSchedule  # type: ignore[assignment]
        from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[assignment]

    if problem := cron_problem(safety_cron, timetable_only=True):
        raise ValueError(problem)
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(safety_cron, timezone="UTC"), assets=[asset])


# Schedules that are not cron expressions, which DAG(schedule=...) takes as such (docs "Cron & Time
# Intervals" presets: @once and @continuous have timetables of their own).
_NON_CRON_PRESETS = frozenset({"@once", "@continuous"})


def cron_problem(expression: str, timetable_only: bool = False) -> str | None:
    """Why Airflow would refuse ``expression`` as a cron schedule (a cron expression or a preset
    such as ``@hourly``), or ``None``: ``CronTriggerTimetable.validate``, which the DAG processor
    would otherwise only call later, with an error that names no setting. ``@once`` and
    ``@continuous`` are schedules a DAG takes but no cron timetable does: refused when
    ``timetable_only`` (a schedule built as a ``CronTriggerTimetable``)."""
    if expression in _NON_CRON_PRESETS:
        return f"{expression} is not a cron schedule, and this one must be" if timetable_only else None
    from airflow.exceptions import AirflowTimetableInvalid

    try:  # Airflow 3.2+
        from airflow.sdk import CronTriggerTimetable
    except ImportError:  # Airflow 2.11, 3.1
        from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[assignment]
    try:
        CronTriggerTimetable(expression, timezone="UTC").validate()
    except AirflowTimetableInvalid as err:
        return str(err)
    return None

"""DAG integrity: it imports cleanly, has the promised shape, and parsing it is cheap and I/O-free."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.providers.databricks.utils.databricks import normalise_json_content
from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor

from local_stack.databricks_api import parse_create_cluster, parse_submit_run
from order_tracking.batch import MANIFEST_NAME, batch_dir, batch_id_for_run
from order_tracking.compat import (
    AIRFLOW_3,
    HAS_ASSET_WATCHERS,
    HAS_DEADLINE_ALERTS,
    TRIGGER_TIMEOUT,
    AirflowSkipException,
)
from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import DATABRICKS_TIMEOUT_GRACE_SECONDS, create_cluster_payload
from order_tracking.databricks_submit import IdempotentSubmitRunOperator
from order_tracking.idempotency import step_token
from order_tracking.moves import MoveObjectGenerationsOperator

# Test-only names that moved between the Airflow lines the lanes run (README, "Support").
try:  # Airflow 3.2+
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2.11, 3.1
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
try:  # Airflow 3
    from airflow.sdk.definitions.xcom_arg import PlainXComArg
except ImportError:  # Airflow 2.11
    from airflow.models.xcom_arg import PlainXComArg  # type: ignore[no-redef,attr-defined]
# The probes run in a fresh interpreter of the same Airflow: they import from where these came from.
DAGBAG_IMPORT = f"from {DagBag.__module__} import DagBag"
VARIABLE_IMPORT = "from airflow.sdk import Variable" if AIRFLOW_3 else "from airflow.models import Variable"

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "order_tracking_incremental_load.py"
# The start of every parse probe: a fresh interpreter in which network I/O and Variable reads fail.
NO_IO_PROBE = textwrap.dedent(
    f"""
    import socket, sys
    def _refuse(*args, **kwargs):
        raise AssertionError("network I/O while parsing the DAG file")
    socket.socket.connect = _refuse
    socket.create_connection = _refuse
    {VARIABLE_IMPORT}
    Variable.get = staticmethod(_refuse)
    sys.path.insert(0, {str(REPO / "plugins")!r})
    """
)
DAG_ID = "order_tracking_incremental_load"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="module")
def dag(dagbag: DagBag) -> Any:
    return dagbag.dags[DAG_ID]


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dags


def test_the_file_parses_again_in_the_same_process(dagbag: DagBag) -> None:
    """``airflow dags test`` parses the file twice in one process, as any long-lived DagBag may:
    module-level task decorators the parse calls must stay callable (a teardown's did not)."""
    again = DagBag(dag_folder=str(REPO / "dags"))
    assert again.import_errors == {}
    assert again.dags[DAG_ID].get_task("stop_cluster").is_teardown
    assert dagbag.dags[DAG_ID].get_task("stop_cluster").is_teardown


PIPELINE = {
    "choose_source": [],
    "wait_for_objects": ["choose_source"],
    "cut_batch": ["choose_source", "wait_for_objects"],
    "check_feed_freshness": ["cut_batch"],
    "has_csv_objects": ["cut_batch"],
    "start_cluster": ["cut_batch", "has_csv_objects"],
    "stage_load": ["start_cluster"],
    "writes_enabled": ["cut_batch", "stage_load"],
    "merge": ["writes_enabled"],
    "stop_cluster": ["merge", "start_cluster"],
    "plan_moves": ["cut_batch", "merge"],
    "move_objects": ["plan_moves"],
    "report": ["cut_batch", "move_objects"],
}
# The steps' payloads take the manifest URI (cut_batch) and the cluster (start_cluster) as XComArgs,
# and Airflow makes each XComArg's task an upstream of the step: these edges, and no other.
VALUE_EDGES = {"stage_load": ["cut_batch"], "merge": ["cut_batch", "start_cluster"]}


def _ancestors(graph: dict[str, list[str]], task_id: str) -> set[str]:
    found: set[str] = set()
    todo = list(graph[task_id])
    while todo:
        upstream = todo.pop()
        if upstream not in found:
            found.add(upstream)
            todo.extend(graph[upstream])
    return found


def test_task_graph_is_the_pipeline(dag: Any) -> None:
    upstream = {task.task_id: sorted(task.upstream_task_ids) for task in dag.tasks}
    assert upstream == {
        task_id: sorted({*ups, *VALUE_EDGES.get(task_id, [])}) for task_id, ups in PIPELINE.items()
    }
    # Each value edge runs along a path the pipeline has anyway: no task runs in another order.
    for task_id, producers in VALUE_EDGES.items():
        assert set(producers) <= _ancestors(PIPELINE, task_id), task_id


def test_the_run_cluster_is_a_setup_with_a_teardown(dag: Any) -> None:
    assert dag.get_task("start_cluster").is_setup
    assert dag.get_task("stop_cluster").is_teardown
    assert dag.get_task("check_feed_freshness").trigger_rule == "all_skipped"


def test_sensor_watches_objects_directly_under_the_staging_prefix_deferrably(dag: Any) -> None:
    sensor = dag.get_task("wait_for_objects")
    assert isinstance(sensor, GCSObjectExistenceSensor)
    assert (sensor.bucket, sensor.object, sensor.use_glob) == ("tracking_orders", "staging_zn/?*", True)
    assert sensor.deferrable is True
    assert sensor.soft_fail is True


def test_a_sensor_that_times_out_skips_instead_of_failing(dag: Any) -> None:
    """Nothing arrived: the triggerer's timeout resumes the sensor to fail, and soft_fail makes that
    a skip (``cut_batch`` then skips the run and ``check_feed_freshness`` runs; the live tests watch
    a real triggerer do it, ``airflow dags test`` cannot time a trigger out)."""
    sensor = dag.get_task("wait_for_objects")
    with pytest.raises(AirflowSkipException):
        sensor.resume_execution("__fail__", {"error": TRIGGER_TIMEOUT}, context={})


TASKS_GIVEN_THE_CONFIG = (
    "cut_batch",
    "start_cluster",
    "stop_cluster",
    "plan_moves",
    "report",
    "check_feed_freshness",
)


def test_tasks_get_the_configuration_read_at_parse_time_as_it_was() -> None:
    """Each task that needs the configuration takes it as an argument (the DAG file's
    ``PipelineConfig.to_dict()``; no task reads the environment again), and rendering the task's
    arguments leaves it exactly as read: a cluster spec may hold Databricks' own
    ``{{secrets/<scope>/<key>}}`` references. Parsed in a fresh interpreter with that environment
    (Airflow's ``@teardown`` cannot be called twice in one process, so the DAG file parses once)."""
    spec = {"spark_version": "17.3.x-scala2.13", "spark_conf": {"spark.db.password": "{{secrets/orders/db}}"}}
    env = {"ORDER_TRACKING_CLUSTER_SPEC": json.dumps(spec), "ORDER_TRACKING_BUCKET": "elsewhere"}
    probe = textwrap.dedent(
        f"""
        import copy, json, sys
        sys.path.insert(0, {str(REPO / "plugins")!r})
        {DAGBAG_IMPORT}

        class AnyXCom:  # every XCom a task's arguments pull is a placeholder naming it
            def xcom_pull(self, task_ids, key="return_value", **kwargs):
                return f"<{{task_ids}}.{{key}}>"

            def get_relevant_upstream_map_indexes(self, *args, **kwargs):  # Airflow 2.11 asks
                return None

        dag = DagBag(dag_folder={str(DAG_FILE)!r}).dags[{DAG_ID!r}]
        given = {{}}
        for task_id in {TASKS_GIVEN_THE_CONFIG!r}:
            task = copy.deepcopy(dag.get_task(task_id))
            # expanded_ti_count: Airflow 2.11's XComArg.resolve reads it (None: not mapped)
            task.render_template_fields({{"ti": AnyXCom(), "params": {{}}, "expanded_ti_count": None}})
            given[task_id] = [a for a in [*task.op_args, *task.op_kwargs.values()] if isinstance(a, dict)]
        print("GIVEN=" + json.dumps(given))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, env=os.environ | env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    given = json.loads(done.stdout.split("GIVEN=", 1)[1])
    expected = PipelineConfig.from_env(env).to_dict()
    assert expected["cluster_spec"] == spec
    assert expected["bucket"] == "elsewhere"
    assert given == {task_id: [expected] for task_id in TASKS_GIVEN_THE_CONFIG}


@pytest.mark.usefixtures("gcs_connection")
def test_neither_a_placeholder_nor_a_sub_folder_object_satisfies_the_sensor(dag: Any, bucket: Any) -> None:
    """The sensor's first poke (in the task) and its trigger (in the triggerer), against the emulator."""
    import asyncio

    from airflow.providers.google.cloud.hooks.gcs import GCSAsyncHook
    from airflow.providers.google.cloud.triggers.gcs import GCSBlobTrigger

    sensor = dag.get_task("wait_for_objects")
    trigger = GCSBlobTrigger(
        bucket=sensor.bucket,
        object_name=sensor.object,
        use_glob=sensor.use_glob,
        poke_interval=0.1,
        google_cloud_conn_id=sensor.google_cloud_conn_id,
        hook_params={},
    )

    def sensed() -> tuple[bool, str]:
        checked = trigger._object_exists(GCSAsyncHook(), sensor.bucket, sensor.object)
        return sensor.poke(context={}), asyncio.run(checked)

    bucket.blob("staging_zn/").upload_from_string(b"")
    bucket.blob("staging_zn/sub/old.csv").upload_from_string(b"tracking_num\n")
    bucket.blob("staging_zn_other/a.csv").upload_from_string(b"tracking_num\n")
    assert sensed() == (False, "pending")
    bucket.blob("staging_zn/a [1]?.csv").upload_from_string(b"tracking_num\n")
    assert sensed() == (True, "success")


@pytest.mark.parametrize("task_id", ["stage_load", "merge"])
def test_spark_steps_are_databricks_wheel_runs(dag: Any, task_id: str) -> None:
    operator = dag.get_task(task_id)
    assert isinstance(operator, IdempotentSubmitRunOperator)
    assert isinstance(operator, DatabricksSubmitRunOperator)
    assert operator.deferrable is True
    assert operator.json is not None
    (task,) = operator.json["tasks"]
    assert task["python_wheel_task"]["entry_point"] == task_id
    manifest = task["python_wheel_task"]["named_parameters"]["manifest"]
    cluster = task["existing_cluster_id"]
    assert isinstance(manifest, PlainXComArg)  # cut_batch's value, not a template naming the task
    assert (manifest.operator.task_id, manifest.key) == ("cut_batch", "manifest_uri")
    assert isinstance(cluster, PlainXComArg)  # the run's one cluster
    assert (cluster.operator.task_id, cluster.key) == ("start_cluster", "return_value")


def test_moves_go_by_generation_once_per_destination(dag: Any) -> None:
    moves = dag.get_task("move_objects")
    assert moves.operator_class is MoveObjectGenerationsOperator or (
        moves.operator_class.__name__ == "MoveObjectGenerationsOperator"
    )
    assert moves.partial_kwargs["bucket"] == "tracking_orders"
    assert moves.partial_kwargs["gcp_conn_id"] == "google_cloud_default"


def test_policy_owner_tags_retries_timeouts_and_one_run_at_a_time(dag: Any) -> None:
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert {"order-tracking", "databricks"} <= set(dag.tags)
    for task in dag.tasks:
        assert task.owner == "data-engineering", task.task_id
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert task.execution_timeout <= timedelta(hours=1), task.task_id


@pytest.mark.skipif(not HAS_DEADLINE_ALERTS, reason="Airflow 3.1+ only: Deadline Alerts (2.11 has SLAs)")
def test_failures_and_deadlines_notify(dag: Any) -> None:
    (alert,) = dag.deadline
    assert alert.interval == timedelta(hours=2)
    assert alert.callback.path == "order_tracking.alerts.deadline_missed"  # importable by the triggerer
    assert alert.callback.kwargs["smtp_conn_id"] == "smtp_default"


@pytest.mark.skipif(HAS_DEADLINE_ALERTS, reason="Airflow 2.11 only: SLAs (3.1+ has Deadline Alerts)")
def test_failures_and_sla_misses_notify(dag: Any) -> None:
    """Airflow 2.11: every unmapped task has the run deadline as its SLA, and the DAG's SLA-miss callback is
    ``alerts.sla_missed`` with the configured channels (it runs in the DAG processor, which parses
    this file, so it may be any callable)."""
    for task in dag.tasks:
        if task.task_id == "move_objects":  # Airflow 2 refuses an SLA on a mapped task
            assert task.partial_kwargs["sla"] is None
        else:
            assert task.sla == timedelta(hours=2), task.task_id
    callback = dag.sla_miss_callback
    assert callback.func.__module__ == "order_tracking.alerts"
    assert callback.func.__name__ == "sla_missed"
    assert callback.keywords["smtp_conn_id"] == "smtp_default"
    assert callback.keywords["deadline_seconds"] == 7200


def test_trigger_form_params(dag: Any) -> None:
    assert set(dag.params) == {"objects", "replay_date", "dry_run"}
    assert dag.params["dry_run"] is False
    assert dag.params["objects"] == []


def test_parsing_does_no_io_and_imports_nothing_heavy() -> None:
    """Parse the DAG file in a fresh interpreter with sockets and Variable reads forbidden."""
    probe = NO_IO_PROBE + textwrap.dedent(
        f"""
        import runpy
        runpy.run_path({str(DAG_FILE)!r})
        heavy = sorted(m for m in ("pyspark", "delta", "pandas") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY=\n" in done.stdout, done.stdout


# How runs start under several ORDER_TRACKING_* settings: one fresh interpreter imports Airflow once,
# then parses the DAG file in a forked child per setting (each child has only its own settings in its
# environment and its own modules), with sockets and Variable reads refused. Each child prints the
# schedule after a round trip through Airflow's own DAG serialization (what the scheduler and the
# triggerer read), and the sensor's wait.
START_SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "events": {
        "TRIGGER": "events",
        "PUBSUB_PROJECT": "my-project",
        "PUBSUB_SUBSCRIPTION": "staging-events",
        "SAFETY_SCHEDULE": "15 */2 * * *",
        "BUCKET": "elsewhere",
        "GCP_CONN_ID": "gcp_feed",
    },
    "events, no safety schedule": {
        "TRIGGER": "events",
        "PUBSUB_PROJECT": "my-project",
        "SAFETY_SCHEDULE": "none",
    },
    "events, bad safety schedule": {
        "TRIGGER": "events",
        "PUBSUB_PROJECT": "my-project",
        "SAFETY_SCHEDULE": "61 * * * *",
    },
}
START_PROBE = NO_IO_PROBE + textwrap.dedent(
    f"""
    import json, os
    {DAGBAG_IMPORT}
    try:  # Airflow 3.3+
        from airflow.serialization.serialized_objects import DagSerialization as Serialization
    except ImportError:  # Airflow 2.11 to 3.2
        from airflow.serialization.serialized_objects import SerializedDAG as Serialization

    # What the DAG file imports, imported once here instead of in each child (none reads settings).
    import importlib, re
    dag_source = open({str(DAG_FILE)!r}).read()
    for module in re.findall(r"^from ([\\w.]+) import", dag_source, re.MULTILINE):
        if module != "__future__":
            importlib.import_module(module)
    import order_tracking.run_start

    def how_runs_start():
        bag = DagBag(dag_folder={str(DAG_FILE)!r})
        errors = [str(error) for error in bag.import_errors.values()]
        if errors:
            return {{"errors": errors}}
        dag = bag.dags[{DAG_ID!r}]
        sensor = dag.get_task("wait_for_objects")
        stored = Serialization.from_dict(json.loads(json.dumps(Serialization.to_dict(dag))))
        timetable = stored.timetable
        time_part = getattr(timetable, "timetable", timetable)  # an asset-or-time schedule's cron
        condition = getattr(timetable, "asset_condition", None)
        assets = [
            {{
                "name": asset.name,
                "uri": asset.uri,
                "watchers": [{{"name": watcher.name, **watcher.trigger}} for watcher in asset.watchers],
            }}
            for _, asset in (condition.iter_assets() if hasattr(condition, "iter_assets") else [])
        ]
        return {{
            "errors": [],
            "timetable": type(timetable).__name__,
            "cron": getattr(time_part, "_expression", None),
            "timezone": str(getattr(time_part, "_timezone", "")),
            "assets": assets,
            "max_active_runs": dag.max_active_runs,
            "sensor": [sensor.poke_interval, sensor.timeout, sensor.soft_fail, sensor.deferrable],
        }}

    for case, settings in json.loads(sys.argv[1]).items():
        sys.stdout.flush()
        child = os.fork()
        if child == 0:
            os.environ.update({{f"ORDER_TRACKING_{{k}}": v for k, v in settings.items()}})
            print("START=" + json.dumps([case, how_runs_start()]), flush=True)
            os._exit(0)
        _, status = os.waitpid(child, 0)
        assert status == 0, (case, status)
    """
)


@pytest.fixture(scope="module")
def how_runs_start() -> dict[str, dict[str, Any]]:
    """``START_PROBE``'s findings for each of ``START_SETTINGS``, by case."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDER_TRACKING_")}
    done = subprocess.run(
        [sys.executable, "-c", START_PROBE, json.dumps(START_SETTINGS)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = dict(
        json.loads(line.removeprefix("START="))
        for line in done.stdout.splitlines()
        if line.startswith("START=")
    )
    assert set(found) == set(START_SETTINGS), done.stderr[-2000:]
    return found


def test_by_default_runs_start_on_the_schedule_and_the_sensor_waits(how_runs_start: dict[str, Any]) -> None:
    """``schedule`` mode, as before the event-driven start: hourly, no asset, the sensor's 50 min."""
    start = how_runs_start["default"]
    assert start["errors"] == []
    assert start["cron"] == "0 * * * *"
    assert start["timetable"] == ("CronTriggerTimetable" if AIRFLOW_3 else "CronDataIntervalTimetable")
    assert start["assets"] == []
    assert start["sensor"] == [60, 3000, True, True]
    assert start["max_active_runs"] == 1


@pytest.mark.skipif(not HAS_ASSET_WATCHERS, reason="Airflow 3 only: asset watchers (2.11 refuses events)")
def test_in_events_mode_a_pubsub_message_or_the_safety_schedule_starts_a_run(
    how_runs_start: dict[str, Any],
) -> None:
    """``events`` mode as the scheduler and the triggerer read it: an asset-or-time schedule whose
    asset has one watcher, the Google provider's Pub/Sub pull trigger on the configured project and
    subscription (acknowledging what it pulls), or'd with the safety cron in UTC; one run at a time;
    the sensor checks and waits only briefly. Parsing it opens no connection (the probe refuses)."""
    start = how_runs_start["events"]
    assert start["errors"] == []
    assert (start["timetable"], start["cron"], start["timezone"]) == (
        "AssetOrTimeSchedule",
        "15 */2 * * *",
        "UTC",
    )
    (asset,) = start["assets"]
    assert (asset["name"], asset["uri"]) == (f"{DAG_ID}__staging_objects", "gs://elsewhere/staging_zn")
    (watcher,) = asset["watchers"]
    assert watcher["name"] == "staging_finalize_pubsub"
    assert watcher["classpath"] == "airflow.providers.google.cloud.triggers.pubsub.PubsubPullTrigger"
    kwargs = watcher["kwargs"]
    assert (kwargs["project_id"], kwargs["subscription"], kwargs["gcp_conn_id"]) == (
        "my-project",
        "staging-events",
        "gcp_feed",
    )
    assert kwargs["ack_messages"] is True
    assert kwargs.get("return_immediately", False) is False  # a long poll where the provider has it
    assert start["max_active_runs"] == 1
    assert start["sensor"] == [5, 30, True, True]


@pytest.mark.skipif(not HAS_ASSET_WATCHERS, reason="Airflow 3 only: asset watchers")
def test_in_events_mode_without_a_safety_schedule_only_messages_start_runs(
    how_runs_start: dict[str, Any],
) -> None:
    start = how_runs_start["events, no safety schedule"]
    assert start["errors"] == []
    assert start["timetable"] == "AssetTriggeredTimetable"
    (asset,) = start["assets"]
    (watcher,) = asset["watchers"]
    assert watcher["kwargs"]["subscription"] == "order-tracking-staging-finalize-airflow"


@pytest.mark.skipif(HAS_ASSET_WATCHERS, reason="Airflow 2.11 only: no asset watchers")
def test_events_mode_on_airflow_2_is_an_import_error_naming_the_version_and_the_alternative(
    how_runs_start: dict[str, Any],
) -> None:
    import airflow

    start = how_runs_start["events, no safety schedule"]
    (error,) = start["errors"]
    needs = "ORDER_TRACKING_TRIGGER=events needs asset watchers (Airflow 3), and this is Airflow"
    assert f"{needs} {airflow.__version__}" in error
    assert "set ORDER_TRACKING_TRIGGER=schedule" in error


def test_a_bad_safety_schedule_is_an_import_error_naming_the_variable(how_runs_start: dict[str, Any]) -> None:
    start = how_runs_start["events, bad safety schedule"]
    (error,) = start["errors"]
    expected = (
        "ORDER_TRACKING_SAFETY_SCHEDULE '61 * * * *' is not a schedule Airflow accepts"
        if HAS_ASSET_WATCHERS
        else "ORDER_TRACKING_TRIGGER=events needs asset watchers"
    )
    assert expected in error


def test_parse_time_is_reported() -> None:
    """Not a timed assertion (targets live in the benchmarks): the figure is printed for the CI log."""
    probe = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "plugins")!r})
        {DAGBAG_IMPORT}
        bag = DagBag(dag_folder={str(DAG_FILE)!r})
        (stat,) = bag.dagbag_stats
        print(f"DAGS={{stat.dag_num}} SECONDS={{stat.duration.total_seconds():.3f}}")
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DAGS=1 " in done.stdout, done.stdout
    print(f"DagBag processing of {DAG_FILE.name} in a fresh process: {done.stdout.split('SECONDS=')[1]}")


# Every run mode the DAG has, as (run id, trigger form): the run id names the batch, so the manifest
# URI and the cluster's name and tags; the form is what the provider would copy into the payload.
LONGEST_RUN_ID = "manual__" + "x" * 242  # Airflow run ids are at most 250 characters
RUN_MODES: dict[str, tuple[str, dict[str, Any]]] = {
    "scheduled": ("scheduled__2026-12-01T10:00:00+00:00", {}),
    "named objects": ("manual__2026-12-01T10:05:13.201+00:00", {"objects": ["orders (1).csv", "a[1].csv"]}),
    "replay": ("manual__2026-12-01T11:00:00+00:00", {"replay_date": "2026-11-30"}),
    "backfill": ("backfill__2026-11-29T00:00:00+00:00", {}),
    "dry run": ("manual__2026-12-01T12:00:00+00:00", {"objects": ["a.csv"], "dry_run": True}),
    "longest run id": (LONGEST_RUN_ID, {"dry_run": True}),
}


class _XComs:
    """The XComs the steps' XComArgs resolve to: the manifest URI ``cut_batch`` pushed (one XCom per
    key of its summary) and the run's cluster id (``start_cluster``'s return value)."""

    def __init__(self, manifest_uri: str) -> None:
        self.values = {
            ("cut_batch", "manifest_uri"): manifest_uri,
            ("start_cluster", "return_value"): "0123-456789-abcdefgh",
        }

    def xcom_pull(self, task_ids: str, key: str = "return_value", **kwargs: Any) -> Any:
        return self.values[(task_ids, key)]

    def get_relevant_upstream_map_indexes(self, *args: Any, **kwargs: Any) -> None:
        """Airflow 2.11's ``XComArg.resolve`` asks which map indexes to pull: none (no mapping)."""
        return


def _plain(value: Any) -> bool:
    """True if ``value`` holds only JSON values (no XComArg or other object left unresolved)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


@pytest.mark.parametrize("mode", RUN_MODES)
@pytest.mark.parametrize("step", ["stage_load", "merge"])
def test_a_steps_final_payload_is_one_the_jobs_api_accepts(dag: Any, step: str, mode: str) -> None:
    """The payload as the provider sends it (templates rendered, the form's params injected where
    the provider injects them), parsed by the runner's Jobs API 2.2 rules (the SDK's request types,
    one parameter field, at most 10,000 bytes of parameters, a valid task key, a 64-character
    token). Every mode sends the same named parameters: only the manifest differs."""
    run_id, form = RUN_MODES[mode]
    config = PipelineConfig.from_env()
    manifest = config.gcs_uri(batch_dir(config.batches_prefix, batch_id_for_run(run_id)) + MANIFEST_NAME)
    operator = copy.deepcopy(dag.get_task(step))
    operator.params = {**operator.params, **form}  # the form as the run resolved it
    # expanded_ti_count: Airflow 2.11's XComArg.resolve reads it (None: the step is not mapped)
    context = {"ti": _XComs(manifest), "params": operator.params, "expanded_ti_count": None}
    operator.render_template_fields(context)
    assert _plain(operator.json)  # what the provider and IdempotentSubmitRunOperator get: values
    prepared = operator._prepare_submit_json({})
    assert normalise_json_content(prepared) == prepared  # already strings, as the provider sends them
    payload = prepared | {"idempotency_token": step_token(DAG_ID, run_id, step, 19)}

    request = parse_submit_run(payload)  # raises ApiError on anything Databricks refuses

    (task,) = request.tasks
    assert task.task_key == step
    assert task.existing_cluster_id == "0123-456789-abcdefgh"
    assert task.python_wheel_task is not None
    assert not task.python_wheel_task.parameters
    assert task.python_wheel_task.named_parameters == {
        "manifest": manifest,
        "stage_table": config.stage_table,
        "target_table": config.target_table,
        "rejects_table": config.rejects_table,
        "ledger_table": config.ledger_table,
        "audit_table": config.audit_table,
        "schema_policy": config.schema_policy,
    }
    assert request.timeout_seconds == config.step_timeout_seconds + DATABRICKS_TIMEOUT_GRACE_SECONDS


@pytest.mark.parametrize("mode", RUN_MODES)
def test_the_run_clusters_request_is_one_the_clusters_api_accepts(mode: str) -> None:
    """``clusters/create`` for every run mode's batch id, as ``start_cluster`` sends it."""
    run_id, _ = RUN_MODES[mode]
    config = PipelineConfig.from_env()
    batch_id = batch_id_for_run(run_id)
    payload = create_cluster_payload(
        config, DAG_ID, run_id, batch_id, step_token(DAG_ID, run_id, "cluster"), single_user="sp-app-id"
    )

    request = parse_create_cluster(payload)  # raises ApiError on anything Databricks refuses

    assert request.spec.spark_version == config.cluster_spec["spark_version"]
    assert request.spec.cluster_name == f"order-tracking {batch_id}"[:100]

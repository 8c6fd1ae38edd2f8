"""What the local runner accepts is what the Jobs API 2.2 and Clusters API accept: one bad payload per
rule, with the status, error code and message Databricks answers; and the product's payloads pass.

Pure parsing (no Spark, no HTTP): see ``test_databricks_runner.py`` for the same errors on the wire.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from airflow.providers.databricks.utils.databricks import normalise_json_content
from databricks.sdk.service import compute, jobs

from local_stack.databricks_api import (
    ApiError,
    execution_order,
    parse_cluster_id,
    parse_create_cluster,
    parse_json_body,
    parse_run_id,
    parse_submit_run,
)
from local_stack.databricks_runner import LOCAL_USER
from order_tracking.config import PipelineConfig
from order_tracking.databricks_jobs import (
    MERGE,
    STAGE_LOAD,
    WHEEL_PACKAGE,
    create_cluster_payload,
    submit_run_payload,
)

INVALID, MALFORMED = "INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST"
WHEEL = {"package_name": WHEEL_PACKAGE, "entry_point": "merge", "named_parameters": {"manifest": "gs://b/m"}}
TASK = {"task_key": "merge", "existing_cluster_id": "local-0001", "python_wheel_task": WHEEL}
SUBMIT = {"run_name": "r", "tasks": [TASK]}
CLUSTER = {"spark_version": "17.3.x-scala2.13", "node_type_id": "n2-highmem-4", "num_workers": 2}
DELETE = object()


def changed(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``body`` with paths set (``tasks__0__task_key="x"``: keys and list indexes joined by ``__``)
    or removed (``=DELETE``)."""
    result = copy.deepcopy(body)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node: Any = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return result


def task(**changes: Any) -> dict[str, Any]:
    return changed(TASK, **changes)


def refused(parse: Callable[[Any], Any], body: Any) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as error:
        parse(body)
    return error.value.status, error.value.error_code, error.value.message


# (id, body, error_code, message pattern): every rule of parse_submit_run, one bad payload each.
SUBMIT_CASES = [
    ("unknown-field", changed(SUBMIT, bogus=1), MALFORMED, r"Unknown field 'bogus'"),
    (
        "unknown-nested-field",
        changed(SUBMIT, tasks__0__python_wheel_task__main="x"),
        MALFORMED,
        r"Unknown field 'tasks\[0\]\.python_wheel_task\.main'",
    ),
    (
        "wrong-type",
        changed(SUBMIT, timeout_seconds="soon"),
        MALFORMED,
        r"Expected an integer for timeout_seconds",
    ),
    (
        "wrong-map-value-type",
        changed(SUBMIT, tasks__0__python_wheel_task__named_parameters={"n": 1}),
        MALFORMED,
        r"Expected a string for tasks\[0\]\.python_wheel_task\.named_parameters\.n",
    ),
    ("tasks-not-a-list", changed(SUBMIT, tasks={}), MALFORMED, r"Expected an array for tasks"),
    ("no-tasks", changed(SUBMIT, tasks=[]), INVALID, r"at least one task"),
    (
        "task-key-missing",
        {"tasks": [task(task_key=DELETE)]},
        INVALID,
        r"Missing required field: tasks\[0\]\.task_key",
    ),
    (
        "task-key-space",
        {"tasks": [task(task_key="a b")]},
        INVALID,
        r"task_key 'a b' must be 1 to 100 characters",
    ),
    ("task-key-dot", {"tasks": [task(task_key="a.b")]}, INVALID, r"task_key 'a\.b' must be"),
    ("task-key-non-ascii", {"tasks": [task(task_key="é")]}, INVALID, r"task_key 'é' must be"),
    ("task-key-empty", {"tasks": [task(task_key="")]}, INVALID, r"task_key '' must be"),
    ("task-key-101", {"tasks": [task(task_key="k" * 101)]}, INVALID, r"must be 1 to 100 characters"),
    ("task-key-duplicate", {"tasks": [TASK, TASK]}, INVALID, r"Task key 'merge' is not unique"),
    (
        "depends-on-unknown",
        {"tasks": [task(depends_on=[{"task_key": "stage"}])]},
        INVALID,
        r"Task 'merge' depends on 'stage', which is not another task of this run",
    ),
    (
        "depends-on-itself",
        {"tasks": [task(depends_on=[{"task_key": "merge"}])]},
        INVALID,
        r"depends on 'merge', which is not another task",
    ),
    (
        "depends-on-cycle",
        {
            "tasks": [
                task(task_key="a", depends_on=[{"task_key": "b"}]),
                task(task_key="b", depends_on=[{"task_key": "a"}]),
            ]
        },
        INVALID,
        r"form a cycle: a, b",
    ),
    (
        "two-computes",
        {"tasks": [task(new_cluster=CLUSTER)]},
        INVALID,
        r"must use one compute, not existing_cluster_id and new_cluster",
    ),
    ("no-compute", {"tasks": [task(existing_cluster_id=DELETE)]}, INVALID, r"Task 'merge' has no compute"),
    (
        "environment-key-unknown",
        {"tasks": [task(existing_cluster_id=DELETE, environment_key="default")]},
        INVALID,
        r"environment_key 'default' names no entry of environments",
    ),
    (
        "serverless",
        {
            "tasks": [task(existing_cluster_id=DELETE, environment_key="default")],
            "environments": [{"environment_key": "default", "spec": {"client": "2"}}],
        },
        INVALID,
        r"serverless compute \(environment_key\) is not supported by the local runner",
    ),
    (
        "shared-job-cluster",
        {"tasks": [task(existing_cluster_id=DELETE, job_cluster_key="c")]},
        INVALID,
        r"^Shared job cluster feature is not supported in runs/submit API\.$",
    ),
    (
        "job-clusters",
        changed(SUBMIT, job_clusters=[{"job_cluster_key": "c", "new_cluster": CLUSTER}]),
        INVALID,
        r"Shared job cluster feature is not supported",
    ),
    (
        "two-task-types",
        {"tasks": [task(notebook_task={"notebook_path": "/n"})]},
        INVALID,
        r"exactly one task type .*found: notebook_task, python_wheel_task",
    ),
    (
        "no-task-type",
        {"tasks": [task(python_wheel_task=DELETE)]},
        INVALID,
        r"exactly one task type .*found: none",
    ),
    (
        "not-a-wheel-task",
        {"tasks": [task(python_wheel_task=DELETE, spark_python_task={"python_file": "/f.py"})]},
        INVALID,
        r"only python_wheel_task is supported by the local runner \(got spark_python_task\)",
    ),
    (
        "entry-point-missing",
        changed(SUBMIT, tasks__0__python_wheel_task__entry_point=DELETE),
        INVALID,
        r"Missing required field: tasks\[0\]\.python_wheel_task\.entry_point",
    ),
    (
        "package-name-empty",
        changed(SUBMIT, tasks__0__python_wheel_task__package_name=""),
        INVALID,
        r"needs a package_name and an entry_point",
    ),
    (
        "both-parameter-fields",
        changed(SUBMIT, tasks__0__python_wheel_task__parameters=["--manifest=gs://b/m"]),
        INVALID,
        r"takes parameters or named_parameters, not both",
    ),
    (
        "parameters-over-10000-bytes",
        changed(SUBMIT, tasks__0__python_wheel_task__named_parameters={"manifest": "m" * 10_000}),
        INVALID,
        r"named_parameters is 10015 bytes of JSON; at most 10000",
    ),
    ("token-65-chars", changed(SUBMIT, idempotency_token="t" * 65), INVALID, r"longer than 64 characters"),
    (
        "negative-timeout",
        changed(SUBMIT, timeout_seconds=-1),
        INVALID,
        r"timeout_seconds must be 0 .* not -1",
    ),
    (
        "negative-task-timeout",
        {"tasks": [task(timeout_seconds=-5)]},
        INVALID,
        r"tasks\[0\]\.timeout_seconds must be 0 .* not -5",
    ),
    (
        "run-name-4097-bytes",
        changed(SUBMIT, run_name="é" * 2049),
        INVALID,
        r"run_name is longer than 4096 bytes",
    ),
    ("description-1001", {"tasks": [task(description="d" * 1001)]}, INVALID, r"longer than 1000 characters"),
    (
        "library-two-kinds",
        {"tasks": [task(libraries=[{"whl": "/a.whl", "jar": "/b.jar"}])]},
        INVALID,
        r"libraries\[0\] must name exactly one library",
    ),
    ("library-no-kind", {"tasks": [task(libraries=[{}])]}, INVALID, r"libraries\[0\] must name exactly one"),
    (
        "library-pypi-without-package",
        {"tasks": [task(libraries=[{"pypi": {"repo": "r"}}])]},
        INVALID,
        r"Missing required field: tasks\[0\]\.libraries\[0\]\.pypi\.package",
    ),
    (
        "new-cluster-rules",
        {
            "tasks": [
                task(existing_cluster_id=DELETE, new_cluster=changed(CLUSTER, autotermination_minutes=5))
            ]
        },
        INVALID,
        r"tasks\[0\]\.new_cluster: autotermination_minutes must be 0 or between 10 and 10000",
    ),
    (
        "enum-value",
        {"tasks": [task(run_if="SOMETIMES")]},
        INVALID,
        r"Invalid value 'SOMETIMES' for tasks\[0\]\.run_if; expected one of: ALL_DONE",
    ),
    (
        "run-if",
        {"tasks": [task(run_if="ALL_DONE")]},
        INVALID,
        r"run_if ALL_DONE is not supported by the local runner",
    ),
    (
        "existing-cluster-id-empty",
        {"tasks": [task(existing_cluster_id="")]},
        INVALID,
        r"^Task 'merge': existing_cluster_id must not be empty\.$",
    ),
    (
        "library-whl-empty",
        {"tasks": [task(libraries=[{"whl": "/a.whl"}, {"whl": ""}])]},
        INVALID,
        r"libraries\[1\]\.whl must not be empty",
    ),
    (
        "library-pypi-package-empty",
        {"tasks": [task(libraries=[{"pypi": {"package": ""}}])]},
        INVALID,
        r"libraries\[0\]\.pypi\.package must not be empty",
    ),
    (
        "timeout-beyond-any-timer",  # 10**20 s made the timer thread die (OverflowError): no timeout at all
        changed(SUBMIT, timeout_seconds=10**20),
        MALFORMED,
        r"Numeric value \(100000000000000000000\) out of range of int32 for timeout_seconds$",
    ),
    (
        "timeout-beyond-int32",
        changed(SUBMIT, timeout_seconds=2**31),
        MALFORMED,
        r"out of range of int32 for timeout_seconds",
    ),
    (
        "timeout-beyond-int32-as-a-string",  # as the provider sends numbers
        changed(SUBMIT, timeout_seconds=str(2**31)),
        MALFORMED,
        r"out of range of int32 for timeout_seconds",
    ),
    (
        "task-timeout-beyond-int32",
        {"tasks": [task(timeout_seconds=2**31)]},
        MALFORMED,
        r"out of range of int32 for tasks\[0\]\.timeout_seconds",
    ),
    (
        "new-cluster-spark-version",
        {"tasks": [task(existing_cluster_id=DELETE, new_cluster=changed(CLUSTER, spark_version="17.3"))]},
        INVALID,
        r"^Invalid spark version 17\.3\.$",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "message"), [c[1:] for c in SUBMIT_CASES], ids=[c[0] for c in SUBMIT_CASES]
)
def test_runs_submit_refuses(body: dict[str, Any], code: str, message: str) -> None:
    status, error_code, text = refused(parse_submit_run, body)
    assert (status, error_code) == (400, code)
    assert re.search(message, text), text


CLUSTER_CASES = [
    ("unknown-field", changed(CLUSTER, workers=2), MALFORMED, r"Unknown field 'workers'"),
    ("wrong-type", changed(CLUSTER, num_workers="two"), MALFORMED, r"Expected an integer for num_workers"),
    (
        "spark-version-missing",
        changed(CLUSTER, spark_version=DELETE),
        INVALID,
        r"^Missing required field: spark_version$",
    ),
    (
        "workers-and-autoscale",
        changed(CLUSTER, autoscale={"min_workers": 1, "max_workers": 2}),
        INVALID,
        r"give num_workers or autoscale, not both",
    ),
    ("no-size", changed(CLUSTER, num_workers=DELETE), INVALID, r"give num_workers or autoscale\.$"),
    ("negative-workers", changed(CLUSTER, num_workers=-1), INVALID, r"num_workers must not be negative"),
    (
        "autoscale-min-not-below-max",
        changed(CLUSTER, num_workers=DELETE, autoscale={"min_workers": 2, "max_workers": 2}),
        INVALID,
        r"autoscale needs 0 <= min_workers < max_workers",
    ),
    (
        "no-node-type",
        changed(CLUSTER, node_type_id=DELETE),
        INVALID,
        r"give node_type_id or instance_pool_id",
    ),
    (
        "autotermination-5",
        changed(CLUSTER, autotermination_minutes=5),
        INVALID,
        r"0 or between 10 and 10000, not 5",
    ),
    ("autotermination-10001", changed(CLUSTER, autotermination_minutes=10_001), INVALID, r"not 10001"),
    (
        "cluster-name-101",
        changed(CLUSTER, cluster_name="n" * 101),
        INVALID,
        r"cluster_name is longer than 100",
    ),
    (
        "data-security-mode",
        changed(CLUSTER, data_security_mode="DEDICATED"),
        INVALID,
        r"Invalid value 'DEDICATED' for data_security_mode; expected one of: .*SINGLE_USER",
    ),
    (
        "runtime-engine",
        changed(CLUSTER, runtime_engine="TURBO"),
        INVALID,
        r"Invalid value 'TURBO' for runtime_engine",
    ),
    (
        "46-custom-tags",
        changed(CLUSTER, custom_tags={f"t{i}": "v" for i in range(46)}),
        INVALID,
        r"at most 45 custom_tags",
    ),
    ("11-ssh-keys", changed(CLUSTER, ssh_public_keys=["k"] * 11), INVALID, r"at most 10 ssh_public_keys"),
    ("token-65-chars", changed(CLUSTER, idempotency_token="t" * 65), INVALID, r"longer than 64 characters"),
    (
        "tag-value-type",
        changed(CLUSTER, custom_tags={"a": 1}),
        MALFORMED,
        r"Expected a string for custom_tags\.a",
    ),
    (
        "single-user-without-user",
        changed(CLUSTER, data_security_mode="SINGLE_USER"),
        INVALID,
        r"^the cluster: data_security_mode SINGLE_USER needs single_user_name",
    ),
    (
        "dedicated-without-user",
        changed(CLUSTER, kind="CLASSIC_PREVIEW", data_security_mode="DATA_SECURITY_MODE_DEDICATED"),
        INVALID,
        r"data_security_mode DATA_SECURITY_MODE_DEDICATED needs single_user_name",
    ),
    (
        "single-user-empty-user",
        changed(CLUSTER, data_security_mode="SINGLE_USER", single_user_name=""),
        INVALID,
        r"single_user_name must not be empty",
    ),
    *[
        (
            f"{mode.lower()}-without-kind",
            changed(CLUSTER, data_security_mode=mode, single_user_name="me@example.test"),
            INVALID,
            rf"data_security_mode {mode} can only be used when kind = CLASSIC_PREVIEW",
        )
        for mode in (
            "DATA_SECURITY_MODE_DEDICATED",
            "DATA_SECURITY_MODE_STANDARD",
            "DATA_SECURITY_MODE_AUTO",
        )
    ],
    (
        "single-node-without-kind",  # and no num_workers: is_single_node must not excuse it
        changed(CLUSTER, is_single_node=True, num_workers=DELETE),
        INVALID,
        r"is_single_node can only be used when kind = CLASSIC_PREVIEW",
    ),
    (
        "ml-runtime-without-kind",
        changed(CLUSTER, use_ml_runtime=True),
        INVALID,
        r"use_ml_runtime can only be used when kind = CLASSIC_PREVIEW",
    ),
    (
        "kind-unknown",
        changed(CLUSTER, kind="SERVERLESS"),
        INVALID,
        r"Invalid value 'SERVERLESS' for kind; expected one of: CLASSIC_PREVIEW",
    ),
    *[
        (f"spark-version-{key}", changed(CLUSTER, spark_version=key), INVALID, message)
        for key, message in [
            ("garbage", r"^Invalid spark version garbage\.$"),
            ("18.x-scala2.13", r"^Invalid spark version 18\.x-scala2\.13\.$"),  # <major>.x: snapshots only
            ("17.3.x", r"^Invalid spark version 17\.3\.x\.$"),
            ("17.3-scala2.13", r"^Invalid spark version"),
            ("17.3.x-scala3.3", r"^Invalid spark version"),
            ("17.3.x-cpu-cpu-ml-scala2.13", r"^Invalid spark version"),
            ("17.3.x-turbo-scala2.13", r"^Invalid spark version"),
            ("17.3.x-scala2.13 ", r"^Invalid spark version"),
        ]
    ],
    (
        "photon-key-with-runtime-engine",
        changed(CLUSTER, spark_version="13.3.x-photon-scala2.12", runtime_engine="PHOTON"),
        INVALID,
        r"runtime_engine cannot be set with the legacy spark_version 13\.3\.x-photon-scala2\.12",
    ),
    *[
        (
            f"{cloud}-on-gcp",
            changed(CLUSTER, **{cloud: {}}),
            INVALID,
            rf"{cloud} cannot be used in a Databricks on Google Cloud",
        )
        for cloud in ("aws_attributes", "azure_attributes")
    ],
    *[
        (
            f"node-type-{node_type}",
            changed(CLUSTER, **{field: node_type}),
            INVALID,
            rf"^Node type {re.escape(node_type)} is not supported\. Supported node types: Google Cloud",
        )
        for field, node_type in [
            ("node_type_id", "i3.xlarge"),
            ("node_type_id", "Standard_DS3_v2"),
            ("node_type_id", "n2-highmem"),  # no size: a family, not a machine type
            ("node_type_id", "N2-HIGHMEM-4"),
            ("driver_node_type_id", "m5.large"),
        ]
    ],
    *[
        (
            f"{field}-empty",
            changed(CLUSTER, **{field: ""}),
            INVALID,
            rf"the cluster: {field} must not be empty",
        )
        for field in ("node_type_id", "instance_pool_id", "policy_id", "driver_instance_pool_id")
    ],
    (
        "workers-beyond-int32",
        changed(CLUSTER, num_workers=2**31),
        MALFORMED,
        r"Numeric value \(2147483648\) out of range of int32 for num_workers",
    ),
    (
        "autoscale-beyond-int32",
        changed(CLUSTER, num_workers=DELETE, autoscale={"min_workers": 1, "max_workers": 2**31}),
        MALFORMED,
        r"out of range of int32 for autoscale\.max_workers",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "message"), [c[1:] for c in CLUSTER_CASES], ids=[c[0] for c in CLUSTER_CASES]
)
def test_clusters_create_refuses(body: dict[str, Any], code: str, message: str) -> None:
    status, error_code, text = refused(parse_create_cluster, body)
    assert (status, error_code) == (400, code)
    assert re.search(message, text), text


# Boundaries the rules accept (each the limit itself, or the other spelling of a choice).
ACCEPTED_SUBMITS = [
    ("task-key-100", {"tasks": [task(task_key="a-Z_9" * 20)]}),
    (
        "positional-parameters",
        changed(
            SUBMIT,
            tasks__0__python_wheel_task__named_parameters=DELETE,
            tasks__0__python_wheel_task__parameters=["--manifest", "m"],
        ),
    ),
    ("empty-positional-beside-named", changed(SUBMIT, tasks__0__python_wheel_task__parameters=[])),
    (
        "parameters-10000-bytes",
        changed(SUBMIT, tasks__0__python_wheel_task__named_parameters={"m": "x" * 9992}),
    ),
    ("token-64", changed(SUBMIT, idempotency_token="t" * 64)),
    ("no-timeout", changed(SUBMIT, timeout_seconds=0)),
    ("int-as-string", changed(SUBMIT, timeout_seconds="60")),
    ("new-cluster", {"tasks": [task(existing_cluster_id=DELETE, new_cluster=CLUSTER)]}),
    ("depends-on", {"tasks": [task(task_key="b", depends_on=[{"task_key": "a"}]), task(task_key="a")]}),
    ("libraries", {"tasks": [task(libraries=[{"whl": "/a.whl"}, {"pypi": {"package": "x==1"}}])]}),
    ("timeout-int32-max", changed(SUBMIT, timeout_seconds=2**31 - 1)),
    ("task-timeout-int32-max-as-a-string", {"tasks": [task(timeout_seconds=str(2**31 - 1))]}),
]


@pytest.mark.parametrize("body", [c[1] for c in ACCEPTED_SUBMITS], ids=[c[0] for c in ACCEPTED_SUBMITS])
def test_runs_submit_accepts(body: dict[str, Any]) -> None:
    request = parse_submit_run(body)
    assert all(isinstance(t, jobs.SubmitTask) for t in request.tasks)


@pytest.mark.parametrize(
    "body",
    [
        changed(CLUSTER, autotermination_minutes=0),
        changed(CLUSTER, autotermination_minutes=10),
        changed(CLUSTER, autotermination_minutes=10_000),
        changed(CLUSTER, num_workers=DELETE, autoscale={"min_workers": 0, "max_workers": 1}),
        changed(CLUSTER, node_type_id=DELETE, instance_pool_id="pool"),
        changed(CLUSTER, node_type_id=DELETE, num_workers=DELETE, policy_id="p"),
        changed(CLUSTER, cluster_name="n" * 100, idempotency_token="t" * 64),
        changed(CLUSTER, data_security_mode="SINGLE_USER", single_user_name="me@example.test"),
        changed(CLUSTER, data_security_mode="USER_ISOLATION"),
        changed(
            CLUSTER,
            kind="CLASSIC_PREVIEW",
            data_security_mode="DATA_SECURITY_MODE_DEDICATED",
            single_user_name="me@example.test",
        ),
        changed(CLUSTER, kind="CLASSIC_PREVIEW", data_security_mode="DATA_SECURITY_MODE_AUTO"),
        changed(
            CLUSTER, kind="CLASSIC_PREVIEW", is_single_node=True, num_workers=DELETE, node_type_id=DELETE
        ),
        changed(CLUSTER, kind="CLASSIC_PREVIEW", use_ml_runtime=True),
        changed(CLUSTER, gcp_attributes={"availability": "PREEMPTIBLE_WITH_FALLBACK_GCP", "zone_id": "HA"}),
        changed(CLUSTER, runtime_engine="PHOTON"),
        changed(CLUSTER, num_workers=2**31 - 1),
    ],
    ids=[
        "autotermination-0",
        "autotermination-10",
        "autotermination-10000",
        "autoscale",
        "pool",
        "policy",
        "limits",
        "single-user-with-user",
        "user-isolation",
        "dedicated-with-kind-and-user",
        "auto-with-kind",
        "single-node-with-kind",
        "ml-runtime-with-kind",
        "gcp-attributes",
        "photon-engine",
        "workers-int32-max",
    ],
)
def test_clusters_create_accepts(body: dict[str, Any]) -> None:
    assert isinstance(parse_create_cluster(body).spec, compute.ClusterSpec)


# Runtime keys as workspaces list them (clusters/spark-versions), and GCP machine types from the
# Databricks on Google Cloud docs: every one passes.
RUNTIME_KEYS = [
    "17.3.x-scala2.13",
    "16.4.x-scala2.12",
    "17.3.x-cpu-ml-scala2.13",
    "17.3.x-gpu-ml-scala2.13",
    "5.5.x-cpu-esr-ml-scala2.11",
    "7.3.x-hls-scala2.12",
    "13.3.x-photon-scala2.12",
    "11.3.x-aarch64-scala2.12",
    "14.x-snapshot-scala2.12",
    "13.3.x-snapshot-scala2.12",
]
GCP_NODE_TYPES = [
    "n2-highmem-4",
    "e2-standard-4",
    "n1-standard-8",
    "a2-highgpu-1g",
    "a2-megagpu-16g",
    "a3-highgpu-8g",
    "c2-standard-8",
    "n2d-standard-16",
    "c3-standard-8-lssd",
    "g2-standard-4",
    "n4-highmem-8",
    "e2-medium",
]


@pytest.mark.parametrize("key", RUNTIME_KEYS)
def test_runtime_keys_are_accepted(key: str) -> None:
    assert parse_create_cluster(changed(CLUSTER, spark_version=key)).spec.spark_version == key


@pytest.mark.parametrize("node_type", GCP_NODE_TYPES)
def test_gcp_machine_types_are_accepted(node_type: str) -> None:
    body = changed(CLUSTER, node_type_id=node_type, driver_node_type_id=node_type)
    assert parse_create_cluster(body).spec.node_type_id == node_type


def test_dependencies_run_first() -> None:
    request = parse_submit_run(
        {"tasks": [task(task_key="b", depends_on=[{"task_key": "a"}]), task(task_key="a")]}
    )
    assert [t.task_key for t in execution_order(request.tasks)] == ["a", "b"]


# --- the product sends only accepted payloads ---------------------------------------------------


@pytest.mark.parametrize("entry_point", [STAGE_LOAD, MERGE])
@pytest.mark.parametrize(
    "config", [PipelineConfig(), PipelineConfig.from_env({"ORDER_TRACKING_TABLES_ROOT": "/wh"})]
)
def test_the_products_step_payloads_are_accepted(entry_point: str, config: PipelineConfig) -> None:
    # the values the operator's XComArgs resolve to in the DAG: the manifest URI and the run's cluster
    payload = submit_run_payload(
        config, entry_point, "gs://b/_batches/x/manifest.json", "0923-164208-meows279"
    )
    parse_submit_run(payload)
    sent = normalise_json_content(payload)  # as the provider sends it: every number as a string
    assert isinstance(sent, dict)
    assert sent["timeout_seconds"] == str(payload["timeout_seconds"])
    request = parse_submit_run(sent)
    (step,) = request.tasks
    assert step.existing_cluster_id == "0923-164208-meows279"
    assert step.python_wheel_task is not None
    assert step.python_wheel_task.entry_point == entry_point
    assert request.timeout_seconds is not None
    assert request.timeout_seconds > 0


def test_the_products_cluster_payload_is_accepted() -> None:
    # start_cluster names the connection's identity (scim/v2/Me) as the dedicated cluster's user
    payload = create_cluster_payload(
        PipelineConfig(), "dag", "manual__1", "manual__1", "t" * 48, single_user=LOCAL_USER["userName"]
    )
    request = parse_create_cluster(payload)
    assert request.idempotency_token == "t" * 48
    assert request.spec.data_security_mode is compute.DataSecurityMode.SINGLE_USER


# --- bodies and query parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "Invalid JSON given in the body of the request - failed to parse given JSON"),
        (b"[1]", "Invalid JSON given in the body of the request - expected a map"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_malformed(raw: bytes, message: str) -> None:
    assert refused(parse_json_body, raw) == (400, MALFORMED, message)


def test_an_empty_body_is_an_empty_object() -> None:
    assert parse_json_body(b"") == {}


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({}, INVALID, "Missing required field: run_id"),
        ({"run_id": "twelve"}, MALFORMED, "Could not parse request object: Expected an integer for run_id"),
        ({"run_id": 1, "job_id": 2}, MALFORMED, "Could not parse request object: Unknown field 'job_id'"),
        ({"run_id": 1, "include_history": "yes"}, MALFORMED, "Expected a boolean for include_history"),
        ({"run_id": 2**63}, MALFORMED, f"Numeric value ({2**63}) out of range of int64 for run_id"),
        ({"run_id": str(10**20)}, MALFORMED, f"Numeric value ({10**20}) out of range of int64 for run_id"),
    ],
)
def test_run_ids_are_checked(params: dict[str, Any], code: str, message: str) -> None:
    status, error_code, text = refused(lambda p: parse_run_id(p, jobs.JobsAPI.get_run), params)
    assert (status, error_code) == (400, code)
    assert message in text


def test_query_strings_carry_run_ids_and_flags() -> None:
    assert parse_run_id({"run_id": "12", "include_history": "true"}, jobs.JobsAPI.get_run) == 12
    assert parse_run_id({"run_id": str(2**63 - 1)}, jobs.JobsAPI.get_run) == 2**63 - 1
    assert parse_run_id({"run_id": 12}, jobs.JobsAPI.cancel_run) == 12


def test_cluster_ids_are_checked() -> None:
    assert parse_cluster_id({"cluster_id": "c-1"}, compute.ClustersAPI.get) == "c-1"
    assert refused(lambda p: parse_cluster_id(p, compute.ClustersAPI.delete), {}) == (
        400,
        INVALID,
        "Missing required field: cluster_id",
    )

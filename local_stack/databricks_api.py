"""What the Databricks Jobs API 2.2 and Clusters API accept: requests parsed with the SDK's types.

Each ``parse_*`` function takes a request body (or query parameters) as JSON gives it and returns
the official ``databricks-sdk`` (0.162) types, or raises :class:`ApiError` with the HTTP status,
``error_code`` and message Databricks answers with. Parsing has two passes:

1. **Shape**, from the SDK's types (the request dataclasses and, where 0.162 has none, the
   signature of the SDK method that sends the request): an unknown field or a JSON value of the
   wrong type is refused, a required field must be there, an enum must name one of its values.
   ``from_dict`` would silently drop all of these; a final comparison of what was sent (the tasks,
   the cluster spec) with ``from_dict(...).as_dict()`` checks that nothing was dropped.
2. **Rules** the types cannot express, each with its source below.

Error responses, as Databricks sends them (``{"error_code": ..., "message": ...}``):

- 400 ``MALFORMED_REQUEST`` "Invalid JSON given in the body of the request - failed to parse given
  JSON" for a body that is not JSON, "... - expected a map" for one that is not an object (both seen
  from Azure Databricks: databricks/databricks-cli issue 615 and public scripts calling
  ``clusters/create``), and "Could not parse request object: ..." for a value of the wrong type
  (seen from Databricks for a map field, in a public Terraform example).
- 400 ``INVALID_PARAMETER_VALUE`` for a value a rule refuses, and for an unknown run or cluster
  id: "Run <id> does not exist." / "Cluster <id> does not exist" (databricks-sdk-py 0.25.0 release
  notes, #591: "the API currently returns a 400"; the SDK remaps these on ``jobs/runs/get*`` and
  ``clusters/get`` to ``ResourceDoesNotExist``, see ``databricks/sdk/errors/overrides.py``).
  "Shared job cluster feature is not supported in runs/submit API." for ``job_clusters`` in
  runs/submit (an Azure Databricks answer quoted on Microsoft Q&A, question 922078).

Assumptions (not verified against a live workspace):

- Databricks may ignore unknown fields instead of refusing them; refusing keeps the product honest
  (MALFORMED_REQUEST, "Could not parse request object: Unknown field ...").
- An invalid enum value, a missing required field and a broken rule are INVALID_PARAMETER_VALUE;
  the messages are ours ("Missing required field: ..." is Databricks' wording for clusters).
- Integers may also come as decimal strings: the Databricks provider sends every number of a
  ``runs/submit`` payload as a string (``normalise_json_content``: "Databricks can tolerate either
  numeric or string types in the API backend"), as the proto3 JSON mapping allows. Booleans in a
  query string are ``true`` / ``false``.
- ``cluster_name`` at most 100 characters (we found no documented limit; the product truncates to
  100), and ``timeout_seconds`` refused when negative.
- ``clusters/create`` accepts ``idempotency_token`` (at most 64 characters): documented by the
  Clusters API 2.0 reference and the Terraform provider's ``databricks_cluster``, though the SDK
  0.162 ``ClustersAPI.create`` no longer lists it.
- The 10,000-byte limit on task parameters is measured on the compact JSON of the field's value.
- Numbers: ``timeout_seconds``, ``num_workers``, ``min_workers`` / ``max_workers``,
  ``autotermination_minutes``, ``max_retries`` and ``min_retry_interval_millis`` are proto int32
  fields, every other integer (``run_id`` among them) an int64; a value out of range is
  MALFORMED_REQUEST "Could not parse request object: Numeric value (<n>) out of range of int32 for
  <field>", as a proto JSON parser refuses it (the wording is ours).
- An empty string where an id, a name or a path is required (``existing_cluster_id``, a library's
  ``whl`` / ``jar`` / ``egg`` / ``requirements`` or package, a node type, pool, policy or
  ``single_user_name``) is refused rather than taken for a missing field.
- ``DATA_SECURITY_MODE_DEDICATED`` needs ``single_user_name`` like its legacy alias ``SINGLE_USER``
  (the SDK: "used by a single user specified in single_user_name"; Terraform documents the
  requirement for ``SINGLE_USER``). The messages of the access-mode, ``kind``, Google Cloud and
  empty-value rules are ours; "Invalid spark version <key>." and "Node type <id> is not supported."
  are Databricks' (sources at the constants). Only the *form* of a runtime key is checked: a
  workspace takes only the keys its ``clusters/spark-versions`` lists (dbx issue 782 shows
  ``11.3.x-photon-scala2.12`` refused by one), which a local runner cannot know.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from databricks.sdk.service import compute, jobs

JOBS_SUBMIT_DOCS = "https://docs.databricks.com/api/workspace/jobs/submit"
CLUSTERS_CREATE_DOCS = "https://docs.databricks.com/api/workspace/clusters/create"


class ApiError(ValueError):
    """A request Databricks refuses: ``status`` (HTTP), ``error_code`` and ``message`` to send back."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status, self.error_code, self.message = status, error_code, message

    def body(self) -> dict[str, str]:
        """The JSON error body: ``{"error_code": ..., "message": ...}``."""
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> ApiError:
    """400 ``INVALID_PARAMETER_VALUE``: a value Databricks refuses."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def malformed(message: str) -> ApiError:
    """400 ``MALFORMED_REQUEST``: a body that does not parse into the request's type."""
    return ApiError(400, "MALFORMED_REQUEST", message)


def run_does_not_exist(run_id: int) -> ApiError:
    """An unknown run id, as Databricks words it (the SDK maps it on ``runs/get*``, see above)."""
    return invalid(f"Run {run_id} does not exist.")


def cluster_does_not_exist(cluster_id: str) -> ApiError:
    """An unknown (or permanently deleted) cluster id, as Databricks words it."""
    return invalid(f"Cluster {cluster_id} does not exist")


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object (an empty body is ``{}``).

    Raises:
        ApiError: 400 MALFORMED_REQUEST if it is not JSON or not a JSON object.
    """
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise malformed("Invalid JSON given in the body of the request - failed to parse given JSON") from err
    if not isinstance(body, dict):
        raise malformed("Invalid JSON given in the body of the request - expected a map")
    return body


# --- the typed requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitRun:
    """A ``jobs/runs/submit`` request. SDK 0.162 has no request class for it: its fields are the
    parameters of ``JobsAPI.submit``, with the SDK's types (``tasks`` are ``jobs.SubmitTask``)."""

    tasks: list[jobs.SubmitTask]
    run_name: str | None = None
    timeout_seconds: int | None = None
    idempotency_token: str | None = None
    environments: list[jobs.JobEnvironment] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class CreateCluster:
    """A ``clusters/create`` request: ``compute.ClusterSpec`` (``ClustersAPI.create`` takes the same
    fields plus ``clone_from``), and the ``idempotency_token`` the Clusters API documents."""

    spec: compute.ClusterSpec
    idempotency_token: str | None = None
    clone_from: compute.CloneCluster | None = None


def parse_submit_run(body: Mapping[str, Any]) -> SubmitRun:
    """Parse and check a ``jobs/runs/submit`` body (Jobs API 2.2, :data:`JOBS_SUBMIT_DOCS`).

    Raises:
        ApiError: 400 MALFORMED_REQUEST (unknown field, wrong JSON type) or INVALID_PARAMETER_VALUE
            (a rule of :func:`_check_submit_rules` or of the cluster rules for ``new_cluster``).
    """
    if "job_clusters" in body or any(isinstance(t, dict) and "job_cluster_key" in t for t in _tasks(body)):
        raise invalid("Shared job cluster feature is not supported in runs/submit API.")
    values = _parse_fields(body, _signature_fields(jobs.JobsAPI.submit), "")
    tasks = [jobs.SubmitTask.from_dict(task) for task in values.get("tasks") or []]
    environments = [jobs.JobEnvironment.from_dict(env) for env in values.get("environments") or []]
    _round_trip(values.get("tasks") or [], [task.as_dict() for task in tasks], "tasks")
    request = SubmitRun(
        tasks=tasks,
        run_name=values.get("run_name"),
        timeout_seconds=values.get("timeout_seconds"),
        idempotency_token=values.get("idempotency_token"),
        environments=environments,
    )
    _check_submit_rules(request)
    return request


def parse_create_cluster(body: Mapping[str, Any]) -> CreateCluster:
    """Parse and check a ``clusters/create`` body (:data:`CLUSTERS_CREATE_DOCS`).

    Raises:
        ApiError: 400 MALFORMED_REQUEST or INVALID_PARAMETER_VALUE (see :func:`_check_cluster`).
    """
    fields = _signature_fields(compute.ClustersAPI.create) | {"idempotency_token": (str | None, False)}
    values = _parse_fields(body, fields, "")
    token = values.pop("idempotency_token", None)
    clone_from = values.pop("clone_from", None)
    spec = compute.ClusterSpec.from_dict(values)
    _round_trip(values, spec.as_dict(), "")
    request = CreateCluster(
        spec, token, compute.CloneCluster.from_dict(clone_from) if clone_from is not None else None
    )
    _check_token(token)
    _check_cluster(request.spec, "")
    return request


def parse_run_id(params: Mapping[str, Any], sdk_method: Callable[..., Any]) -> int:
    """The ``run_id`` of ``jobs/runs/get`` (``JobsAPI.get_run``), ``jobs/runs/get-output``
    (``get_run_output``) or ``jobs/runs/cancel`` (``cancel_run``): query parameters or JSON body.

    Raises:
        ApiError: 400 on a missing ``run_id``, an unknown parameter or a value of the wrong type.
    """
    return int(_parse_fields(params, _signature_fields(sdk_method), "", query=True)["run_id"])


def parse_cluster_id(params: Mapping[str, Any], sdk_method: Callable[..., Any]) -> str:
    """The ``cluster_id`` of ``clusters/get`` (``ClustersAPI.get``), ``clusters/delete`` or
    ``clusters/permanent-delete``.

    Raises:
        ApiError: 400 on a missing ``cluster_id``, an unknown parameter or a value of the wrong type.
    """
    return str(_parse_fields(params, _signature_fields(sdk_method), "", query=True)["cluster_id"])


# --- shape: the SDK's types ---------------------------------------------------------------------

Fields = dict[str, tuple[Any, bool]]  # name -> (type hint, required)


def _signature_fields(method: Callable[..., Any]) -> Fields:
    """The request fields of an SDK method: its keyword parameters, required if they have no default."""
    hints = typing.get_type_hints(method)
    parameters = inspect.signature(method).parameters
    return {
        name: (hints[name], parameter.default is inspect.Parameter.empty)
        for name, parameter in parameters.items()
        if name != "self"
    }


def _dataclass_fields(cls: type) -> Fields:
    hints = typing.get_type_hints(cls)
    return {
        field.name: (hints[field.name], field.default is dataclasses.MISSING)
        for field in dataclasses.fields(cls)
    }


def _parse_fields(body: Any, fields: Fields, path: str, query: bool = False) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise malformed(f"Could not parse request object: Expected an object for {path or 'the body'}")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise malformed(f"Could not parse request object: Unknown field '{_join(path, unknown[0])}'")
    values: dict[str, Any] = {}
    for name, (hint, required) in fields.items():
        value = body.get(name)
        if value is None:
            if required:
                raise invalid(f"Missing required field: {_join(path, name)}")
            continue
        values[name] = _parse_value(value, hint, _join(path, name), query)
    return values


def _parse_value(value: Any, hint: Any, path: str, query: bool) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (hint,) = [arg for arg in args if arg is not type(None)]
        return _parse_value(value, hint, path, query)
    if dataclasses.is_dataclass(hint):
        return _parse_fields(value, _dataclass_fields(typing.cast(type, hint)), path)
    if isinstance(hint, type) and issubclass(hint, Enum):
        allowed = [member.value for member in hint]
        if value not in allowed:
            raise invalid(f"Invalid value {value!r} for {path}; expected one of: {', '.join(allowed)}")
        return value
    if origin is list:
        items = _expect(value, list, path, "an array")
        return [_parse_value(item, args[0], f"{path}[{index}]", query) for index, item in enumerate(items)]
    if origin is dict:
        entries = _expect(value, dict, path, "an object")
        return {key: _parse_value(item, args[1], f"{path}.{key}", query) for key, item in entries.items()}
    return _parse_scalar(value, hint, path, query)


_SCALARS: dict[Any, str] = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def _parse_scalar(value: Any, hint: Any, path: str, query: bool) -> Any:
    if hint not in _SCALARS:
        return value  # Any, and protobuf types (Duration, Timestamp) this runner never reads
    if hint is bool and query and value in ("true", "false"):
        value = value == "true"
    if hint is int and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)
    kinds = (int, float) if hint is float else (hint,)
    if isinstance(value, bool) != (hint is bool) or not isinstance(value, kinds):
        raise malformed(f"Could not parse request object: Expected {_SCALARS[hint]} for {path}")
    if isinstance(value, int) and hint is int:
        _check_int_range(value, path)
    return value


def _check_int_range(value: int, path: str) -> None:
    """A number the field's proto type (int32 for :data:`INT32_FIELDS`, else int64) cannot hold."""
    name = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
    bits = 32 if name in INT32_FIELDS else 64
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise malformed(
            f"Could not parse request object: Numeric value ({value}) out of range of int{bits} for {path}"
        )


def _expect(value: Any, kind: type, path: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise malformed(f"Could not parse request object: Expected {what} for {path}")
    return value


def _round_trip(sent: Any, parsed: Any, path: str) -> None:
    """What ``from_dict(...).as_dict()`` gives back must be what was sent (empty values aside)."""
    if _pruned(sent) != _pruned(parsed):
        raise malformed(f"Could not parse request object: {path or 'the body'} does not match its type")


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _tasks(body: Mapping[str, Any]) -> list[Any]:
    tasks = body.get("tasks")
    return tasks if isinstance(tasks, list) else []


# --- rules the types cannot express -------------------------------------------------------------

# https://docs.databricks.com/api/workspace/jobs/getrun ("task_key ... [ 1 .. 100 ] characters
# ^[\w\-\_]+$", "must be unique within its parent job"); Java's \w is ASCII-only.
TASK_KEY = re.compile(r"[\w\-]{1,100}", re.ASCII)
MAX_TOKEN_CHARS = 64  # SDK JobsAPI.submit: "This token must have at most 64 characters."
MAX_RUN_NAME_BYTES = 4096  # jobs/getrun: run_name "The maximum length is 4096 bytes in UTF-8 encoding."
MAX_DESCRIPTION_CHARS = 1000  # jobs/getrun: tasks.description "<= 1000 characters"
# Jobs API: "The JSON representation of this field ... cannot exceed 10,000 bytes" (SDK docstrings of
# python_params / python_named_params; the same cap applies to a task's parameters).
MAX_PARAMETERS_BYTES = 10_000
TASK_TYPES = tuple(f.name for f in dataclasses.fields(jobs.SubmitTask) if f.name.endswith("_task"))
COMPUTE_FIELDS = ("existing_cluster_id", "new_cluster", "environment_key")
LIBRARY_KINDS = tuple(f.name for f in dataclasses.fields(compute.Library))
# SDK ClusterSpec.autotermination_minutes: "between 10 and 10000 minutes ... or 0"
AUTOTERMINATION_RANGE = range(10, 10_001)
MAX_CLUSTER_NAME_CHARS = 100  # assumption, see the module docstring
MAX_CUSTOM_TAGS = 45  # SDK ClusterSpec.custom_tags: "Databricks allows at most 45 custom tags"
MAX_SSH_KEYS = 10  # SDK ClusterSpec.ssh_public_keys: "Up to 10 keys can be specified."
# Proto int32 fields (assumption, see the module docstring); every other integer is an int64.
INT32_FIELDS = frozenset(
    {"timeout_seconds", "num_workers", "min_workers", "max_workers", "autotermination_minutes"}
    | {"max_retries", "min_retry_interval_millis"}
)
Mode = compute.DataSecurityMode
# SDK DataSecurityMode: DATA_SECURITY_MODE_DEDICATED is "used by a single user specified in
# single_user_name", SINGLE_USER its legacy alias; Terraform's databricks_cluster: single_user_name
# "is required when using data_security_mode set to SINGLE_USER".
SINGLE_USER_MODES = (Mode.SINGLE_USER, Mode.DATA_SECURITY_MODE_DEDICATED)
# Terraform's databricks_cluster, data_security_mode: "If kind is specified, then the following
# options are available: DATA_SECURITY_MODE_AUTO ..., _STANDARD ..., _DEDICATED".
KIND_MODES = (
    Mode.DATA_SECURITY_MODE_AUTO,
    Mode.DATA_SECURITY_MODE_STANDARD,
    Mode.DATA_SECURITY_MODE_DEDICATED,
)
# SDK ClusterSpec.is_single_node and use_ml_runtime: "This field can only be used when
# kind = CLASSIC_PREVIEW."
KIND_FIELDS = ("is_single_node", "use_ml_runtime")
# Runtime keys as clusters/spark-versions lists them (SDK SparkVersion.key "for example
# 2.1.x-scala2.11"; the SDK's select_spark_version and Terraform's databricks_spark_version read the
# variants -ml- (cpu-ml, gpu-ml, cpu-esr-ml), -gpu-, -hls-, -photon-, -aarch64- and -esr- from the
# key; keys seen from workspaces: 17.3.x-cpu-ml-scala2.13, 11.3.x-aarch64-scala2.12,
# 5.5.x-cpu-esr-ml-scala2.11, 7.3.x-hls-scala2.12, 8.3.x-photon-scala2.12, and <major>.x only for
# snapshots, 14.x-snapshot-scala2.12). A workspace refuses any other as "Invalid spark version <key>."
# (databrickslabs/dbx issue 782, databricks/databricks-sdk-java PR 54).
RUNTIME_KEY = re.compile(
    r"[1-9]\d*\.(?P<minor>\d+\.x|x)(?P<variants>(?:-(?:cpu|gpu|ml|esr|hls|photon|aarch64|snapshot))*)"
    r"-scala2\.1[0-3]"
)
# The workspace is a Databricks on Google Cloud one: node types are Compute Engine machine types
# (e.g. n2-highmem-4, e2-standard-4, a2-highgpu-1g, a2-megagpu-16g, c3-standard-8-lssd, as the
# GCP docs' "Flexible node type compatibility reference" lists them), never AWS (i3.xlarge) or Azure
# (Standard_DS3_v2) ones; "Node type m4.large is not supported." is Databricks' refusal
# (terraform-provider-databricks issue 220).
# Form: <series>-<type>-<vCPUs>[<g: GPUs>][-lssd], or a shared-core <series>-micro|small|medium.
GCP_MACHINE_TYPE = re.compile(r"[a-z][a-z0-9]*-(?:[a-z]+-\d+[a-z]*(?:-lssd)?|micro|small|medium)")
OTHER_CLOUDS = ("aws_attributes", "azure_attributes")  # SDK: "clusters running on" AWS / Azure
# Fields naming an id or a path: an empty string names nothing (assumption: refused).
LIBRARY_PATHS = ("whl", "jar", "egg", "requirements")
LIBRARY_NAMES = {"pypi": "package", "maven": "coordinates", "cran": "package"}
CLUSTER_IDS = (
    "node_type_id",
    "driver_node_type_id",
    "instance_pool_id",
    "driver_instance_pool_id",
    "policy_id",
    "single_user_name",
)


def _check_submit_rules(request: SubmitRun) -> None:
    """runs/submit rules (:data:`JOBS_SUBMIT_DOCS` unless a constant above names another source)."""
    if not request.tasks:
        raise invalid("A run must have at least one task in 'tasks'.")
    _check_token(request.idempotency_token)
    if request.run_name is not None and len(request.run_name.encode()) > MAX_RUN_NAME_BYTES:
        raise invalid(f"run_name is longer than {MAX_RUN_NAME_BYTES} bytes in UTF-8.")
    _check_timeout(request.timeout_seconds, "timeout_seconds")
    keys = [task.task_key for task in request.tasks]
    environments = {env.environment_key for env in request.environments}
    for index, task in enumerate(request.tasks):
        _check_task(task, f"tasks[{index}]", environments)
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise invalid(f"Task key {duplicates[0]!r} is not unique: task_key must be unique within the run.")
    for task in request.tasks:
        for dependency in task.depends_on or []:
            if dependency.task_key not in keys or dependency.task_key == task.task_key:
                raise invalid(
                    f"Task {task.task_key!r} depends on {dependency.task_key!r}, which is not another "
                    "task of this run."
                )
    execution_order(request.tasks)  # refuses a cycle


def _check_task(task: jobs.SubmitTask, path: str, environments: set[str]) -> None:
    if not TASK_KEY.fullmatch(task.task_key):
        raise invalid(
            f"{path}.task_key {task.task_key!r} must be 1 to 100 characters of letters, digits, '_' and '-'."
        )
    where = f"Task {task.task_key!r}"
    if task.existing_cluster_id == "":
        raise invalid(f"{where}: existing_cluster_id must not be empty.")
    types = [name for name in TASK_TYPES if getattr(task, name) is not None]
    if len(types) != 1:
        found = ", ".join(types) or "none"
        raise invalid(f"{where} must have exactly one task type ({', '.join(TASK_TYPES)}); found: {found}.")
    computes = [name for name in COMPUTE_FIELDS if getattr(task, name) is not None]
    if len(computes) > 1:
        raise invalid(f"{where} must use one compute, not {' and '.join(computes)}.")
    if task.environment_key is not None and task.environment_key not in environments:
        raise invalid(f"{where}: environment_key {task.environment_key!r} names no entry of environments.")
    if task.description is not None and len(task.description) > MAX_DESCRIPTION_CHARS:
        raise invalid(f"{where}: description is longer than {MAX_DESCRIPTION_CHARS} characters.")
    _check_timeout(task.timeout_seconds, f"{path}.timeout_seconds")
    for index, library in enumerate(task.libraries or []):
        kinds = [kind for kind in LIBRARY_KINDS if getattr(library, kind) is not None]
        if len(kinds) != 1:
            raise invalid(
                f"{where}: libraries[{index}] must name exactly one library ({', '.join(LIBRARY_KINDS)})."
            )
        _check_library_names(library, f"{where}: libraries[{index}]")
    if task.new_cluster is not None:
        _check_cluster(task.new_cluster, f"{path}.new_cluster")
    if task.python_wheel_task is not None:
        _check_wheel_task(task.python_wheel_task, where, computes)
    else:
        raise invalid(f"{where}: only python_wheel_task is supported by the local runner (got {types[0]}).")
    if task.run_if not in (None, jobs.RunIf.ALL_SUCCESS):
        raise invalid(f"{where}: run_if {task.run_if.value} is not supported by the local runner.")


def _check_wheel_task(wheel: jobs.PythonWheelTask, where: str, computes: list[str]) -> None:
    """Jobs API 2.2 PythonWheelTask: ``package_name`` and ``entry_point`` required (non-empty);
    ``parameters`` "Leave it empty if named_parameters is not null" (and the other way round);
    environment_key "is required for Python script, Python wheel and dbt tasks when using
    serverless compute"."""
    if not wheel.package_name or not wheel.entry_point:
        raise invalid(f"{where}: python_wheel_task needs a package_name and an entry_point.")
    if wheel.parameters and wheel.named_parameters:
        raise invalid(f"{where}: python_wheel_task takes parameters or named_parameters, not both.")
    for name in ("parameters", "named_parameters"):
        value = getattr(wheel, name)
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if value and size > MAX_PARAMETERS_BYTES:
            raise invalid(
                f"{where}: python_wheel_task.{name} is {size} bytes of JSON; at most {MAX_PARAMETERS_BYTES}."
            )
    if not computes:
        raise invalid(
            f"{where} has no compute: give existing_cluster_id or new_cluster, or environment_key "
            "(required for a Python wheel task on serverless compute)."
        )
    if computes == ["environment_key"]:
        raise invalid(f"{where}: serverless compute (environment_key) is not supported by the local runner.")


def _check_library_names(library: compute.Library, where: str) -> None:
    for kind in LIBRARY_PATHS:
        if getattr(library, kind) == "":
            raise invalid(f"{where}.{kind} must not be empty.")
    for kind, field in LIBRARY_NAMES.items():
        spec = getattr(library, kind)
        if spec is not None and getattr(spec, field) == "":
            raise invalid(f"{where}.{kind}.{field} must not be empty.")


def _check_cluster(spec: compute.ClusterSpec, path: str) -> None:
    """Cluster rules of :data:`CLUSTERS_CREATE_DOCS` (sources at the constants above): a runtime key
    as ``spark_version``; a size (``num_workers`` or ``autoscale``, not both) and a node type
    (``node_type_id`` or ``instance_pool_id``) unless a policy (or a ``CLASSIC_PREVIEW`` single-node
    spec) can supply them; Google Cloud node types and attributes only; the access modes' rules."""
    where = path or "the cluster"
    if not spec.spark_version:
        raise invalid(f"Missing required field: {_join(path, 'spark_version')}")
    _check_runtime(spec, where)
    _check_gcp(spec, where)
    _check_access(spec, where)
    _check_size(spec, where)
    minutes = spec.autotermination_minutes
    if minutes is not None and minutes != 0 and minutes not in AUTOTERMINATION_RANGE:
        raise invalid(f"{where}: autotermination_minutes must be 0 or between 10 and 10000, not {minutes}.")
    if spec.cluster_name is not None and len(spec.cluster_name) > MAX_CLUSTER_NAME_CHARS:
        raise invalid(f"{where}: cluster_name is longer than {MAX_CLUSTER_NAME_CHARS} characters.")
    if len(spec.custom_tags or {}) > MAX_CUSTOM_TAGS:
        raise invalid(f"{where}: at most {MAX_CUSTOM_TAGS} custom_tags.")
    if len(spec.ssh_public_keys or []) > MAX_SSH_KEYS:
        raise invalid(f"{where}: at most {MAX_SSH_KEYS} ssh_public_keys.")


def _check_size(spec: compute.ClusterSpec, where: str) -> None:
    """A size and a node type, unless a policy or a ``CLASSIC_PREVIEW`` single-node spec supplies them."""
    classic_single_node = spec.kind is compute.Kind.CLASSIC_PREVIEW and bool(spec.is_single_node)
    by_policy = spec.policy_id is not None or classic_single_node
    if spec.num_workers is not None and spec.autoscale is not None:
        raise invalid(f"{where}: give num_workers or autoscale, not both.")
    if spec.num_workers is None and spec.autoscale is None and not by_policy:
        raise invalid(f"{where}: give num_workers or autoscale.")
    if spec.num_workers is not None and spec.num_workers < 0:
        raise invalid(f"{where}: num_workers must not be negative.")
    if spec.autoscale is not None:
        low, high = spec.autoscale.min_workers, spec.autoscale.max_workers
        if low is None or high is None or not 0 <= low < high:  # "max_workers must be strictly greater"
            raise invalid(f"{where}: autoscale needs 0 <= min_workers < max_workers.")
    if spec.node_type_id is None and spec.instance_pool_id is None and not by_policy:
        raise invalid(f"{where}: give node_type_id or instance_pool_id.")


def _check_runtime(spec: compute.ClusterSpec, where: str) -> None:
    key = spec.spark_version or ""
    match = RUNTIME_KEY.fullmatch(key)
    variants = match["variants"].split("-")[1:] if match else []
    if (
        match is None
        or len(set(variants)) != len(variants)
        or (match["minor"] == "x" and "snapshot" not in variants)
    ):
        raise invalid(f"Invalid spark version {key}.")
    if "photon" in variants and spec.runtime_engine is not None:
        # SDK ClusterSpec.runtime_engine: "not compatible with legacy spark_version values that
        # contain -photon-"
        raise invalid(
            f"{where}: runtime_engine cannot be set with the legacy spark_version {key}; remove -photon- "
            "from spark_version and set runtime_engine to PHOTON."
        )


def _check_access(spec: compute.ClusterSpec, where: str) -> None:
    """``kind``-only fields and access modes, a user for a dedicated cluster, no empty ids."""
    mode = spec.data_security_mode
    if spec.kind is not compute.Kind.CLASSIC_PREVIEW:
        for name in KIND_FIELDS:
            if getattr(spec, name) is not None:
                raise invalid(f"{where}: {name} can only be used when kind = CLASSIC_PREVIEW.")
        if mode in KIND_MODES:
            raise invalid(
                f"{where}: data_security_mode {mode.value} can only be used when kind = CLASSIC_PREVIEW "
                "(use SINGLE_USER or USER_ISOLATION otherwise)."
            )
    for name in CLUSTER_IDS:
        if getattr(spec, name) == "":
            raise invalid(f"{where}: {name} must not be empty.")
    if mode in SINGLE_USER_MODES and not spec.single_user_name:
        raise invalid(
            f"{where}: data_security_mode {mode.value} needs single_user_name (the user the cluster is "
            "dedicated to)."
        )


def _check_gcp(spec: compute.ClusterSpec, where: str) -> None:
    for name in OTHER_CLOUDS:
        if getattr(spec, name) is not None:
            raise invalid(f"{where}: {name} cannot be used in a Databricks on Google Cloud workspace.")
    for node_type in (spec.node_type_id, spec.driver_node_type_id):
        if node_type and not GCP_MACHINE_TYPE.fullmatch(node_type):
            raise invalid(
                f"Node type {node_type} is not supported. Supported node types: Google Cloud machine "
                "types such as n2-highmem-4, e2-standard-4, n1-standard-8 or a2-highgpu-1g."
            )


def _check_token(token: str | None) -> None:
    if token is not None and len(token) > MAX_TOKEN_CHARS:
        raise invalid(f"idempotency_token is longer than {MAX_TOKEN_CHARS} characters.")


def _check_timeout(seconds: int | None, path: str) -> None:
    if seconds is not None and seconds < 0:
        raise invalid(f"{path} must be 0 (no timeout) or more, not {seconds}.")


def execution_order(tasks: list[jobs.SubmitTask]) -> list[jobs.SubmitTask]:
    """``tasks`` with each after the tasks it ``depends_on`` (otherwise in the order given).

    Raises:
        ApiError: 400 INVALID_PARAMETER_VALUE if the dependencies form a cycle.
    """
    done: list[jobs.SubmitTask] = []
    waiting = list(tasks)
    while waiting:
        ready = [
            task
            for task in waiting
            if all(dep.task_key in {d.task_key for d in done} for dep in task.depends_on or [])
        ]
        if not ready:
            raise invalid(f"The tasks' depends_on form a cycle: {', '.join(t.task_key for t in waiting)}.")
        done.append(ready[0])
        waiting.remove(ready[0])
    return done

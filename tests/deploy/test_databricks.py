"""``python -m deploy.databricks`` against the local runner's Files API (a workspace stand-in)."""

from __future__ import annotations

import ast
import re
import shutil
import time
import tomllib
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound

from deploy import REPO, DeployError, pipeline_config
from deploy.databricks import (
    DEFAULT_TIMEOUT_SECONDS,
    check_wheel_file,
    check_wheel_name,
    main,
    volume_path,
    workspace_client,
)
from local_stack.airflow_env import LOCAL_TOKEN
from local_stack.databricks_runner import RunnerServer
from local_stack.runner_client import RunnerClient
from tests.deploy.conftest import Lines, run_failing_command

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
WHEEL_NAME = f"{PROJECT['name'].replace('-', '_')}-{PROJECT['version']}-py3-none-any.whl"


@pytest.fixture
def workspace(databricks_files: RunnerServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Unified auth from the environment, pointing at the runner; no ~/.databrickscfg is read."""
    for name in (
        "DATABRICKS_PROFILE",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_AUTH_TYPE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{databricks_files.port}")
    monkeypatch.setenv("DATABRICKS_TOKEN", LOCAL_TOKEN)
    return WorkspaceClient(host=f"http://127.0.0.1:{databricks_files.port}", token=LOCAL_TOKEN)


@pytest.fixture
def catalog() -> str:
    """A catalog of its own for each test (the runner's files outlive a test)."""
    return f"deploy_{uuid.uuid4().hex[:8]}"


def _absent(workspace: Any, path: str) -> bool:
    try:
        workspace.files.get_metadata(path)
    except NotFound:
        return True
    return False


def _calls(runner: RunnerServer) -> int:
    return RunnerClient(runner.port).api_calls()


@pytest.fixture
def calls_before(databricks_files: RunnerServer) -> int:
    """The runner's API call count before the test body (asked for before ``no_network``)."""
    return _calls(databricks_files)


def _no_build(repo: Path, out: Path) -> Path:
    raise AssertionError("the wheel was built")


def test_the_built_wheel_is_the_one_the_dag_names_by_default(spark_tasks_wheel: Path) -> None:
    """pyproject.toml's version and config.py's default wheel URI move together."""
    assert spark_tasks_wheel.name == WHEEL_NAME
    assert pipeline_config().wheel_uri.rsplit("/", 1)[1] == WHEEL_NAME
    with zipfile.ZipFile(spark_tasks_wheel) as wheel:
        names = set(wheel.namelist())
        dist_info = "-".join(WHEEL_NAME.split("-")[:2]) + ".dist-info"
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert {"spark_tasks/__init__.py", "spark_tasks/stage_load.py", "spark_tasks/merge.py"} <= names
    # every package pyproject.toml lists, wherever package-dir keeps it (batch_documents: plugins/)
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert {f"{package.replace('.', '/')}/__init__.py" for package in packages} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert "stage_load = spark_tasks.stage_load:main" in entry_points


def test_a_dry_run_lists_the_build_and_the_upload_and_changes_nothing(
    workspace: Any,
    databricks_files: RunnerServer,
    spark_tasks_wheel: Path,
    catalog: str,
    calls_before: int,
    no_network: list[Any],
    emitted: Lines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = f"/Volumes/{catalog}/order_tracking/artifacts/releases/{WHEEL_NAME}"
    monkeypatch.setenv("ORDER_TRACKING_WHEEL_URI", uri)
    monkeypatch.setattr(  # the session's wheel stands in for a second build
        "deploy.databricks.build_wheel", lambda repo, out: Path(shutil.copy(spark_tasks_wheel, out))
    )

    assert main(["--dry-run"], emit=emitted) == 0

    size = spark_tasks_wheel.stat().st_size
    assert emitted.lines == [
        f"build {REPO} -> {WHEEL_NAME} ({size} bytes)",
        f"mkdir /Volumes/{catalog}/order_tracking/artifacts/releases",
        f"upload {WHEEL_NAME} -> {uri} ({size} bytes)",
        "dry run: nothing was uploaded",
    ]
    assert no_network == []
    monkeypatch.undo()  # the network again, to look
    assert _calls(databricks_files) == calls_before
    assert _absent(workspace, uri)
    assert list(workspace.files.list_directory_contents(f"/Volumes/{catalog}/order_tracking/artifacts")) == []
    with pytest.raises(NotFound):
        list(workspace.files.list_directory_contents(f"/Volumes/{catalog}/order_tracking/artifacts/releases"))


def test_a_dry_run_of_a_given_wheel_needs_no_credentials(
    spark_tasks_wheel: Path, no_network: list[Any], emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    monkeypatch.delenv("DATABRICKS_TOKEN", raising=False)
    monkeypatch.delenv("ORDER_TRACKING_WHEEL_URI", raising=False)

    assert main(["--dry-run", "--wheel", str(spark_tasks_wheel)], emit=emitted) == 0

    size = spark_tasks_wheel.stat().st_size
    assert emitted.lines == [
        f"wheel {spark_tasks_wheel} ({size} bytes)",
        f"upload {WHEEL_NAME} -> {pipeline_config().wheel_uri} ({size} bytes)",  # the DAG's default
        "dry run: nothing was uploaded",
    ]


def test_deploy_uploads_the_wheel_and_the_workspace_gives_back_the_same_bytes(
    workspace: Any,
    spark_tasks_wheel: Path,
    catalog: str,
    emitted: Lines,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    uri = f"/Volumes/{catalog}/order_tracking/artifacts/{WHEEL_NAME}"
    monkeypatch.setenv("ORDER_TRACKING_WHEEL_URI", uri)
    size = spark_tasks_wheel.stat().st_size

    with caplog.at_level("WARNING"):
        assert main(["--wheel", str(spark_tasks_wheel)], emit=emitted) == 0
        assert main(["--wheel", str(spark_tasks_wheel)], emit=emitted) == 0  # a re-deploy overwrites

    # the runner has no /.well-known/databricks-config: the SDK's warning about it is held back
    assert not [record for record in caplog.records if "host metadata" in record.getMessage()]

    once = [
        f"wheel {spark_tasks_wheel} ({size} bytes)",
        f"workspace {workspace.config.host}",
        f"upload {WHEEL_NAME} -> {uri} ({size} bytes)",
        f"verified {uri} ({size} bytes)",
    ]
    assert emitted.lines == once + once
    assert workspace.files.download(uri).contents.read() == spark_tasks_wheel.read_bytes()


def test_wheel_uri_flag_overrides_the_configuration(
    workspace: Any, spark_tasks_wheel: Path, catalog: str, emitted: Lines, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"/Volumes/{catalog}/jobs/libs/{WHEEL_NAME}"

    assert main(["--wheel", str(spark_tasks_wheel), "--wheel-uri", uri], emit=emitted) == 0

    assert workspace.files.download(uri).contents.read() == spark_tasks_wheel.read_bytes()
    assert f"set ORDER_TRACKING_WHEEL_URI={uri} in the Composer environment" in capsys.readouterr().err


def test_a_wheel_of_another_version_than_the_configured_uri_is_refused(
    workspace: Any,
    spark_tasks_wheel: Path,
    catalog: str,
    emitted: Lines,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = f"/Volumes/{catalog}/order_tracking/artifacts"
    configured = f"{folder}/order_tracking_spark_tasks-9.9.9-py3-none-any.whl"
    monkeypatch.setenv("ORDER_TRACKING_WHEEL_URI", configured)

    assert main(["--wheel", str(spark_tasks_wheel)], emit=emitted) == 1

    error = capsys.readouterr().err
    assert f"the wheel is {WHEEL_NAME} (version {PROJECT['version']})" in error
    assert "names order_tracking_spark_tasks-9.9.9-py3-none-any.whl (version 9.9.9)" in error
    assert "would point at a file this deploy does not upload" in error
    assert (
        f"Set ORDER_TRACKING_WHEEL_URI (here and in the Composer environment) to {folder}/{WHEEL_NAME}"
        in error
    )
    assert not [line for line in emitted.lines if line.startswith(("upload", "mkdir"))]
    assert _absent(workspace, configured)
    assert _absent(workspace, f"{folder}/{WHEEL_NAME}")


def test_a_refused_token_is_reported_before_the_wheel_is_built(
    workspace: Any, catalog: str, emitted: Lines, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "not-the-token")
    monkeypatch.setattr("deploy.databricks.build_wheel", _no_build)
    uri = f"/Volumes/{catalog}/order_tracking/artifacts/{WHEEL_NAME}"

    assert main(["--wheel-uri", uri], emit=emitted) == 1

    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"error: Databricks at {workspace.config.host} refused volume ")
    assert f"needs READ VOLUME and WRITE VOLUME on volume {catalog}.order_tracking.artifacts" in err
    assert "Traceback" not in err
    # the SDK's host-metadata warning, held back, is shown as a note: it may explain a refused login
    assert err.splitlines()[0].startswith("note: databricks-sdk: Failed to automatically resolve config")
    assert emitted.lines == [f"workspace {workspace.config.host}"]  # no build line: nothing was built
    assert _absent(workspace, uri)


def test_no_credentials_is_a_clear_error(
    spark_tasks_wheel: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_PROFILE", "DATABRICKS_AUTH_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))

    assert main(["--wheel", str(spark_tasks_wheel)], emit=lambda line: None) == 1

    assert "cannot authenticate to Databricks" in capsys.readouterr().err


@pytest.mark.parametrize(
    "uri",
    [
        "dbfs:/FileStore/jars/a.whl",
        "/Workspace/Shared/a.whl",
        "gs://bucket/a.whl",
        "/Volumes/main/order_tracking/a.whl",  # no volume
        "/Volumes/main/order_tracking/artifacts/../other/a.whl",
        "/Volumes/main/order_tracking/artifacts//a.whl",
        "/Volumes/main/order_tracking/artifacts/a.zip",
        f"/Volumes/main/order tracking/art?x#y/{WHEEL_NAME}",  # a space in the schema
        f"/Volumes/ma.in/order_tracking/artifacts/{WHEEL_NAME}",  # a period in the catalog
        f"/Volumes/main/order_tracking/arti\tfacts/{WHEEL_NAME}",  # a control character
        f"/Volumes/main/order_tracking/arti\x7ffacts/{WHEEL_NAME}",  # DELETE
        f"/Volumes/main/{'s' * 256}/artifacts/{WHEEL_NAME}",  # more than 255 characters
        f"/Volumes/main/order_tracking/artifacts/sub\x01dir/{WHEEL_NAME}",
        "/Volumes/main/order_tracking/artifacts/spark_tasks.whl",  # not a wheel's file name
        "/Volumes/main/order_tracking/artifacts/order tracking-0.1.0-py3-none-any.whl",
    ],
)
def test_only_a_volume_wheel_path_is_a_destination(uri: str) -> None:
    with pytest.raises(DeployError, match="is not a Unity Catalog volume path"):
        volume_path(uri)


def test_a_bad_destination_is_refused_before_any_call(
    spark_tasks_wheel: Path, no_network: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"/Volumes/main/order tracking/art?x#y/{WHEEL_NAME}"

    assert main(["--wheel", str(spark_tasks_wheel), "--wheel-uri", uri], emit=lambda line: None) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"error: wheel URI {uri!r} is not a Unity Catalog volume path: schema 'order tracking': "
    )
    assert no_network == []


def test_any_other_character_is_allowed_in_a_unity_catalog_name_and_deploys(
    workspace: Any, spark_tasks_wheel: Path, catalog: str, emitted: Lines
) -> None:
    """Unity Catalog names may hold '?', '#', '-' (back-quoted in SQL): the SDK escapes the path."""
    uri = f"/Volumes/{catalog}/order-tracking/art?x#y/{WHEEL_NAME}"
    assert volume_path(uri).volume == f"{catalog}.`order-tracking`.`art?x#y`"

    assert main(["--wheel", str(spark_tasks_wheel), "--wheel-uri", uri], emit=emitted) == 0

    assert workspace.files.download(uri).contents.read() == spark_tasks_wheel.read_bytes()


def test_a_volume_path_names_its_volume_and_folder() -> None:
    path = volume_path(f"/Volumes/main/order_tracking/artifacts/sub/{WHEEL_NAME}")
    assert (path.volume, path.volume_root, path.directory, path.file_name) == (
        "main.order_tracking.artifacts",
        "/Volumes/main/order_tracking/artifacts",
        "/Volumes/main/order_tracking/artifacts/sub",
        WHEEL_NAME,
    )
    check_wheel_name(WHEEL_NAME, path.path)  # no error


def test_the_deploy_package_never_imports_the_local_stack_or_the_benchmarks() -> None:
    for module in (REPO / "deploy").rglob("*.py"):
        tree = ast.parse(module.read_text())
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name.split(".")[0] in ("local_stack", "bench", "tests")}, (
            module
        )


# --- failing fast and clearly ----------------------------------------------------------------------

UNREACHABLE = "http://127.0.0.1:1"  # a mistyped port: the connection is refused


@pytest.fixture
def unreachable_workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABRICKS_PROFILE", "DATABRICKS_CLIENT_ID", "DATABRICKS_AUTH_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("DATABRICKS_HOST", UNREACHABLE)
    monkeypatch.setenv("DATABRICKS_TOKEN", LOCAL_TOKEN)


def test_an_unreachable_host_fails_fast_naming_it_before_anything_is_built(
    unreachable_workspace: None,
    emitted: Lines,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("deploy.databricks.build_wheel", _no_build)
    started = time.monotonic()

    with caplog.at_level("WARNING"):
        assert main(["--timeout", "1"], emit=emitted) == 1

    elapsed = time.monotonic() - started  # ~3 s: 1 s of retries for the SDK's probe, 1 s for the check
    assert elapsed < 15, elapsed  # the SDK's defaults: 5 minutes, twice
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        re.escape(f"error: cannot reach Databricks at {UNREACHABLE}: [Errno 111] Connection refused ")
        + r"\(gave up after \d+ s\)\. "
        + re.escape(
            "Check DATABRICKS_HOST (or the profile's host), the network or proxy; --timeout waits longer"
        ),
        line,
    ), line
    assert emitted.lines == [f"workspace {UNREACHABLE}"]
    assert not [record for record in caplog.records if "host metadata" in record.getMessage()]


def test_every_sdk_call_is_bounded_by_the_timeout(workspace: Any) -> None:
    client = workspace_client(None)
    assert (client.config.http_timeout_seconds, client.config.retry_timeout_seconds) == (10, 10)
    assert DEFAULT_TIMEOUT_SECONDS == 10
    client = workspace_client(None, 3)
    assert (client.config.http_timeout_seconds, client.config.retry_timeout_seconds) == (3, 3)


def test_the_command_ends_in_one_error_line_and_prints_no_sdk_warning(
    unreachable_workspace: None, spark_tasks_wheel: Path
) -> None:
    """As a user runs it: Python prints the warnings of unconfigured loggers (databricks-sdk's
    host-metadata one) on stderr, and an uncaught error as a traceback; neither may show."""
    done = run_failing_command("deploy.databricks", "--wheel", str(spark_tasks_wheel), "--timeout", "1")
    assert done.stderr.startswith(f"error: cannot reach Databricks at {UNREACHABLE}: ")
    assert done.stdout.splitlines() == [
        f"wheel {spark_tasks_wheel} ({spark_tasks_wheel.stat().st_size} bytes)",
        f"workspace {UNREACHABLE}",
    ]


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("ORDER_TRACKING_STEP_TIMEOUT_SECONDS", "abc", "invalid literal for int()"),
        ("ORDER_TRACKING_CLUSTER_SPEC", "{not json", "Expecting property name"),
        ("ORDER_TRACKING_SCHEDULE", "bogus", "is not a schedule Airflow accepts"),
        ("ORDER_TRACKING_SAFETY_SCHEDULE", "61 * * * *", "is not a schedule Airflow accepts"),
    ],
)
def test_a_bad_order_tracking_variable_is_an_error_naming_it(
    name: str,
    value: str,
    said: str,
    spark_tasks_wheel: Path,
    no_network: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)

    assert main(["--wheel", str(spark_tasks_wheel), "--dry-run"], emit=lambda line: None) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: the environment variable {name}={value!r} is not valid: ")
    assert said in line


@pytest.mark.parametrize("given", [True, False], ids=["--wheel", "built"])
def test_a_wheel_uri_flag_of_another_version_gets_one_consistent_fix(
    given: bool,
    spark_tasks_wheel: Path,
    no_network: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Refused before any Databricks call or build; the fix named is the flag's, and no note
    contradicts it (the note about ORDER_TRACKING_WHEEL_URI comes only after a deploy)."""
    monkeypatch.delenv("ORDER_TRACKING_WHEEL_URI", raising=False)
    monkeypatch.setattr("deploy.databricks.build_wheel", _no_build)
    folder = "/Volumes/main/order_tracking/artifacts"
    other = f"{folder}/order_tracking_spark_tasks-0.2.0-py3-none-any.whl"
    argv = ["--wheel-uri", other, *(["--wheel", str(spark_tasks_wheel)] if given else [])]

    assert main(argv, emit=lambda line: None) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"error: the wheel is {WHEEL_NAME} (version {PROJECT['version']}) but the --wheel-uri"
    )
    assert f"Pass --wheel-uri {folder}/{WHEEL_NAME} (and set ORDER_TRACKING_WHEEL_URI to it" in line
    assert no_network == []


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _not_a_zip(wheel: Path, out: Path) -> Path:
    (out / WHEEL_NAME).write_bytes(b"#!/bin/sh\necho not a wheel\n")
    return out / WHEEL_NAME


def _renamed_version(wheel: Path, out: Path) -> Path:
    return Path(shutil.copy(wheel, out / WHEEL_NAME.replace(PROJECT["version"], "0.2.0")))


def _corrupted(wheel: Path, out: Path) -> Path:
    data = bytearray(wheel.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside some member's compressed bytes
    (out / WHEEL_NAME).write_bytes(bytes(data))
    return out / WHEEL_NAME


DIST_INFO = "order_tracking_spark_tasks-0.1.0.dist-info"


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_not_a_zip, "is not a wheel: not a zip archive"),
        (
            lambda wheel, out: _zip(out / WHEEL_NAME, {"spark_tasks/__init__.py": b""}),
            r"is not a wheel: it has 0 \*\.dist-info folders, not 1",
        ),
        (
            lambda wheel, out: _zip(out / WHEEL_NAME, {f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\n"}),
            f"is not a wheel: {DIST_INFO}/ lacks METADATA",
        ),
        (_renamed_version, "its METADATA names order-tracking-spark-tasks 0.1.0, the file name"),
        (_corrupted, "(is not a wheel|is damaged)"),
    ],
    ids=["not-a-zip", "no-dist-info", "no-metadata", "renamed-version", "corrupted"],
)
def test_a_file_that_is_not_the_wheel_its_name_says_is_refused(
    make: Any, said: str, spark_tasks_wheel: Path, tmp_path: Path
) -> None:
    fake = make(spark_tasks_wheel, tmp_path)
    with pytest.raises(DeployError, match=said):
        check_wheel_file(fake)


def test_a_renamed_non_wheel_is_refused_before_any_call(
    workspace: Any, databricks_files: RunnerServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / WHEEL_NAME
    fake.write_bytes(b"PK but not really a zip")
    calls_before = _calls(databricks_files)

    assert main(["--wheel", str(fake)], emit=lambda line: None) == 1

    assert capsys.readouterr().err.startswith(f"error: {fake} is not a wheel: not a zip archive")
    assert _calls(databricks_files) == calls_before


@pytest.mark.parametrize("where", [0.1, 0.25, 0.4, 0.55, 0.7, 0.85])
def test_damage_anywhere_in_the_wheel_is_a_clear_refusal(
    where: float, spark_tasks_wheel: Path, tmp_path: Path
) -> None:
    """A flipped byte may break a member's deflate stream (zlib), its CRC or the zip directory:
    each is a DeployError, never a traceback (a byte no check covers, such as a member's
    timestamp, leaves a wheel that installs the same)."""
    data = bytearray(spark_tasks_wheel.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    damaged = tmp_path / WHEEL_NAME
    damaged.write_bytes(bytes(data))
    refusal = ""
    try:
        check_wheel_file(damaged)
    except DeployError as error:  # any other exception fails the test
        refusal = str(error)
    assert not refusal or re.search(r"is not a wheel|is damaged|is not the wheel its name says", refusal)

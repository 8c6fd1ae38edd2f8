"""``python -m deploy.databricks`` against the local runner's Files API (a workspace stand-in)."""

from __future__ import annotations

import ast
import shutil
import tomllib
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound

from deploy import REPO, DeployError, pipeline_config
from deploy.databricks import check_wheel_name, main, volume_path
from local_stack.airflow_env import LOCAL_TOKEN
from local_stack.databricks_runner import RunnerServer
from tests.deploy.conftest import Lines

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
    return sum(runner.service.api_calls.values())


def test_the_built_wheel_is_the_one_the_dag_names_by_default(spark_tasks_wheel: Path) -> None:
    """pyproject.toml's version and config.py's default wheel URI move together."""
    assert spark_tasks_wheel.name == WHEEL_NAME
    assert pipeline_config().wheel_uri.rsplit("/", 1)[1] == WHEEL_NAME
    with zipfile.ZipFile(spark_tasks_wheel) as wheel:
        names = set(wheel.namelist())
        dist_info = "-".join(WHEEL_NAME.split("-")[:2]) + ".dist-info"
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert {"spark_tasks/__init__.py", "spark_tasks/stage_load.py", "spark_tasks/merge.py"} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert "stage_load = spark_tasks.stage_load:main" in entry_points


def test_a_dry_run_lists_the_build_and_the_upload_and_changes_nothing(
    workspace: Any,
    databricks_files: RunnerServer,
    spark_tasks_wheel: Path,
    catalog: str,
    no_network: list[Any],
    emitted: Lines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = f"/Volumes/{catalog}/order_tracking/artifacts/releases/{WHEEL_NAME}"
    monkeypatch.setenv("ORDER_TRACKING_WHEEL_URI", uri)
    monkeypatch.setattr(  # the session's wheel stands in for a second build
        "deploy.databricks.build_wheel", lambda repo, out: Path(shutil.copy(spark_tasks_wheel, out))
    )
    calls_before = _calls(databricks_files)

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
    with pytest.raises(NotFound):
        list(workspace.files.list_directory_contents(f"/Volumes/{catalog}/order_tracking/artifacts"))


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
    workspace: Any, spark_tasks_wheel: Path, catalog: str, emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"/Volumes/{catalog}/order_tracking/artifacts/{WHEEL_NAME}"
    monkeypatch.setenv("ORDER_TRACKING_WHEEL_URI", uri)
    size = spark_tasks_wheel.stat().st_size

    assert main(["--wheel", str(spark_tasks_wheel)], emit=emitted) == 0
    assert main(["--wheel", str(spark_tasks_wheel)], emit=emitted) == 0  # a re-deploy overwrites

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


def test_a_refused_upload_names_the_permission_it_needs(
    workspace: Any, spark_tasks_wheel: Path, catalog: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "not-the-token")
    uri = f"/Volumes/{catalog}/order_tracking/artifacts/{WHEEL_NAME}"

    assert main(["--wheel", str(spark_tasks_wheel), "--wheel-uri", uri], emit=lambda line: None) == 1

    assert f"needs WRITE VOLUME on volume {catalog}.order_tracking.artifacts" in capsys.readouterr().err
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
    ],
)
def test_only_a_volume_wheel_path_is_a_destination(uri: str) -> None:
    with pytest.raises(DeployError, match="is not a Unity Catalog volume path"):
        volume_path(uri)


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

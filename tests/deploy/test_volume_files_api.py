"""What the deploy tool now relies on in the runner's Files API (local_stack/databricks_files.py):
directory metadata (the tool's up-front check), volume roots that exist before anything is written,
and Unity Catalog names refused as a workspace refuses them. Wire-level checks go through the router
alone; SDK checks through the runner's HTTP server."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, NotFound
from fastapi import FastAPI
from fastapi.testclient import TestClient

from local_stack.airflow_env import LOCAL_TOKEN
from local_stack.databricks_files import DIRECTORIES, FILES, files_router
from local_stack.databricks_runner import RunnerServer

VOLUME = "/Volumes/main/order_tracking/artifacts"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
def api(root: Path) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(files_router(root))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def files(databricks_files: RunnerServer) -> Any:
    host = f"http://127.0.0.1:{databricks_files.port}"
    return WorkspaceClient(host=host, token=LOCAL_TOKEN).files


@pytest.fixture
def volume() -> str:
    return f"/Volumes/c{uuid.uuid4().hex[:8]}/schema/volume"


def test_the_sdk_checks_a_directory_and_a_volume_root_always_exists(files: Any, volume: str) -> None:
    files.get_directory_metadata(volume)  # a volume's root, nothing written in it yet
    assert list(files.list_directory_contents(volume)) == []
    with pytest.raises(NotFound):
        files.get_directory_metadata(f"{volume}/missing")
    files.create_directory(f"{volume}/made")
    files.get_directory_metadata(f"{volume}/made")


def test_the_sdk_sees_names_unity_catalog_refuses_refused(files: Any) -> None:
    with pytest.raises(InvalidParameterValue, match=re.escape("invalid schema name 'order tracking'")):
        files.upload("/Volumes/main/order tracking/artifacts/a.whl", io.BytesIO(b"x"), overwrite=True)
    with pytest.raises(InvalidParameterValue, match=re.escape("invalid catalog name 'ma.in'")):
        files.create_directory("/Volumes/ma.in/s/v/d")


def test_any_other_character_in_a_name_is_escaped_by_the_sdk_and_stored(files: Any) -> None:
    volume = f"/Volumes/c{uuid.uuid4().hex[:8]}/order-tracking/art?x#y"
    files.upload(f"{volume}/a%20b.whl", io.BytesIO(b"odd"), overwrite=True)
    assert files.download(f"{volume}/a%20b.whl").contents.read() == b"odd"
    assert [entry.path for entry in files.list_directory_contents(volume)] == [f"{volume}/a%20b.whl"]


@pytest.mark.parametrize(
    "path",
    [
        "/Volumes/main/order%20tracking/artifacts/a.whl",  # a space
        "/Volumes/ma.in/order_tracking/artifacts/a.whl",  # a period
        "/Volumes/main/order_tracking/arti%01facts/a.whl",  # a control character
        "/Volumes/main/order_tracking/arti%7Ffacts/a.whl",  # DELETE
        f"/Volumes/main/{'s' * 256}/artifacts/a.whl",  # more than 255 characters
    ],
)
def test_names_unity_catalog_refuses_are_400_and_never_reach_the_disk(
    api: TestClient, root: Path, path: str
) -> None:
    for response in (api.put(FILES + path, content=b"x"), api.get(FILES + path), api.put(DIRECTORIES + path)):
        assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert not list(root.rglob("*"))


def test_directory_metadata_is_a_bodiless_head(api: TestClient) -> None:
    def head(path: str) -> tuple[int, bytes]:
        response = api.head(DIRECTORIES + path)
        return response.status_code, response.content

    assert head(VOLUME) == (200, b"")  # a volume's root exists before anything is written in it
    assert head(f"{VOLUME}/") == (200, b"")
    assert head(f"{VOLUME}/d") == (404, b"")
    api.put(f"{DIRECTORIES}{VOLUME}/d")
    api.put(f"{FILES}{VOLUME}/f", content=b"x")
    assert head(f"{VOLUME}/d") == (200, b"")
    assert head(f"{VOLUME}/f") == (404, b"")  # a file is no directory
    assert head("/Volumes/main/order%20tracking/artifacts") == (400, b"")
    assert api.get(f"{DIRECTORIES}/Volumes/other/s/v").json() == {"contents": []}

"""The runner's Files API: what databricks-sdk's ``files`` calls, and Databricks' refusals.

Wire-level checks (exact status, error body, traversal attempts the SDK's HTTP stack would
normalise away) go through an in-process client on the router alone; the SDK checks go through the
runner's HTTP server, where ``create_app`` mounts the router behind the bearer token.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import AlreadyExists, InvalidParameterValue, NotFound, PermissionDenied
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
    """``WorkspaceClient().files`` on the runner."""
    host = f"http://127.0.0.1:{databricks_files.port}"
    return WorkspaceClient(host=host, token=LOCAL_TOKEN).files


@pytest.fixture
def volume() -> str:
    """A volume of its own for each test (the runner's files outlive a test)."""
    return f"/Volumes/c{uuid.uuid4().hex[:8]}/schema/volume"


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


# --- what the SDK calls, through the runner --------------------------------------------------------


def test_the_sdk_uploads_reads_back_and_lists(files: Any, volume: str) -> None:
    files.create_directory(f"{volume}/wheels")
    files.create_directory(f"{volume}/wheels")  # idempotent
    files.upload(f"{volume}/wheels/a.whl", io.BytesIO(b"first"), overwrite=True)
    files.upload(f"{volume}/wheels/a.whl", io.BytesIO(b"second!"), overwrite=True)
    files.upload(f"{volume}/wheels/deeper/b.txt", io.BytesIO(b""), overwrite=True)  # parents are created

    assert files.download(f"{volume}/wheels/a.whl").contents.read() == b"second!"
    assert files.get_metadata(f"{volume}/wheels/a.whl").content_length == 7
    listed = {entry.name: entry for entry in files.list_directory_contents(f"{volume}/wheels")}
    assert sorted(listed) == ["a.whl", "deeper"]
    assert (listed["a.whl"].path, listed["a.whl"].file_size, listed["a.whl"].is_directory) == (
        f"{volume}/wheels/a.whl",
        7,
        False,
    )
    assert listed["deeper"].is_directory


def test_the_sdk_sees_databricks_refusals(files: Any, volume: str) -> None:
    files.upload(f"{volume}/a.whl", io.BytesIO(b"kept"), overwrite=True)

    with pytest.raises(AlreadyExists, match="already exists"):
        files.upload(f"{volume}/a.whl", io.BytesIO(b"lost"), overwrite=False)
    assert files.download(f"{volume}/a.whl").contents.read() == b"kept"
    with pytest.raises(NotFound, match="does not exist"):
        files.download(f"{volume}/missing.whl").contents.read()
    with pytest.raises(NotFound):
        files.get_metadata(f"{volume}/missing.whl")
    with pytest.raises(NotFound, match="does not exist"):
        list(files.list_directory_contents(f"{volume}/no_such_dir"))
    with pytest.raises(InvalidParameterValue, match="/Volumes/<catalog>/<schema>/<volume>/"):
        files.upload("/tmp/a.whl", io.BytesIO(b"x"), overwrite=True)


def test_a_wrong_token_is_refused(databricks_files: RunnerServer, volume: str) -> None:
    host = f"http://127.0.0.1:{databricks_files.port}"
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        WorkspaceClient(host=host, token="wrong").files.create_directory(f"{volume}/x")


# --- the wire, and what must never reach the disk --------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/tmp/a.whl",  # not a volume
        "/Volumes/main/order_tracking/a.whl",  # a schema, not a file in a volume
        "/Volumes/main/order_tracking/artifacts",  # the volume itself is no file
        "/Volumes/main/order_tracking/artifacts/",
        "/Volumes//order_tracking/artifacts/a.whl",  # empty segment
        "/Volumes/main/order_tracking/artifacts/%2E/a.whl",  # a "." segment (encoded: clients drop it)
        "/Workspace/Users/someone/a.whl",
    ],
)
def test_paths_outside_a_volume_are_refused(api: TestClient, root: Path, path: str) -> None:
    assert _error(api.put(FILES + path, content=b"x")) == (400, "INVALID_PARAMETER_VALUE")
    assert _error(api.get(FILES + path)) == (400, "INVALID_PARAMETER_VALUE")
    assert not [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "escaped",
    [
        "/Volumes/main/s/v/%2E%2E/%2E%2E/%2E%2E/%2E%2E/escaped.txt",  # back up to the root and out
        "/Volumes/main/s/v/%2E%2E/%2E%2E/%2E%2E/%2E%2E/%2E%2E/escaped.txt",
        "/Volumes/main/s/v/sub%2F%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E/escaped.txt",  # encoded slashes
        "/Volumes/main/s/v/..%5C..%5C..%5Cescaped.txt",  # backslashes
    ],
)
def test_path_traversal_is_refused(api: TestClient, root: Path, escaped: str) -> None:
    response = api.put(FILES + escaped, content=b"x")
    assert _error(response) == (400, "INVALID_PARAMETER_VALUE")
    assert "normalized" in response.json()["message"]  # refused for its segments, as it arrived
    assert _error(api.put(DIRECTORIES + escaped)) == (400, "INVALID_PARAMETER_VALUE")
    assert not list(root.parent.rglob("escaped.txt"))


def test_a_symlink_out_of_the_root_is_not_followed(api: TestClient, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    volume = root / "Volumes" / "main" / "s" / "v"
    volume.mkdir(parents=True)
    (volume / "link").symlink_to(outside, target_is_directory=True)

    assert _error(api.put(f"{FILES}/Volumes/main/s/v/link/new.txt", content=b"x")) == (
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert _error(api.get(f"{FILES}/Volumes/main/s/v/link/secret.txt")) == (400, "INVALID_PARAMETER_VALUE")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_overwrite_false_onto_an_existing_file_is_409_already_exists(api: TestClient) -> None:
    path = f"{FILES}{VOLUME}/a.whl"
    assert api.put(path, params={"overwrite": "false"}, content=b"one").status_code == 204
    response = api.put(path, params={"overwrite": "false"}, content=b"two")
    assert _error(response) == (409, "ALREADY_EXISTS")
    assert set(response.json()) == {"error_code", "message"}
    assert api.get(path).content == b"one"
    assert api.put(path, params={"overwrite": "true"}, content=b"three").status_code == 204
    assert api.put(path, content=b"four").status_code == 204  # unspecified: overwrite
    assert api.get(path).content == b"four"


def test_a_missing_file_is_404_not_found(api: TestClient) -> None:
    assert _error(api.get(f"{FILES}{VOLUME}/missing.whl")) == (404, "NOT_FOUND")
    head = api.head(f"{FILES}{VOLUME}/missing.whl")
    assert (head.status_code, head.content) == (404, b"")
    assert _error(api.get(f"{DIRECTORIES}{VOLUME}/missing")) == (404, "NOT_FOUND")


def test_metadata_and_ranges_are_served(api: TestClient) -> None:
    api.put(f"{FILES}{VOLUME}/a.bin", content=b"0123456789")
    head = api.head(f"{FILES}{VOLUME}/a.bin")
    assert head.status_code == 200
    assert head.headers["content-length"] == "10"
    assert head.headers["content-type"] == "application/octet-stream"
    assert head.headers["last-modified"].endswith("GMT")
    part = api.get(f"{FILES}{VOLUME}/a.bin", headers={"Range": "bytes=4-"})
    assert (part.status_code, part.content) == (206, b"456789")


def test_a_directory_and_a_file_cannot_share_a_path(api: TestClient) -> None:
    api.put(f"{DIRECTORIES}{VOLUME}/d")
    assert _error(api.put(f"{FILES}{VOLUME}/d", content=b"x")) == (409, "ALREADY_EXISTS")
    api.put(f"{FILES}{VOLUME}/f", content=b"x")
    assert _error(api.put(f"{DIRECTORIES}{VOLUME}/f/sub")) == (409, "ALREADY_EXISTS")
    assert _error(api.get(f"{FILES}{VOLUME}/d")) == (404, "NOT_FOUND")


def test_listing_pages(api: TestClient) -> None:
    for name in ("c", "a", "b"):
        api.put(f"{FILES}{VOLUME}/{name}", content=name.encode())
    first = api.get(f"{DIRECTORIES}{VOLUME}", params={"page_size": 2}).json()
    assert [entry["name"] for entry in first["contents"]] == ["a", "b"]
    second = api.get(
        f"{DIRECTORIES}{VOLUME}", params={"page_size": 2, "page_token": first["next_page_token"]}
    ).json()
    assert second == {
        "contents": [
            {
                "path": f"{VOLUME}/c",
                "name": "c",
                "is_directory": False,
                "file_size": 1,
                "last_modified": second["contents"][0]["last_modified"],
            }
        ]
    }


# --- what the deploy tool relies on: directory metadata, volume roots, Unity Catalog names --------


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

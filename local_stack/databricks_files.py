"""A local stand-in for the part of the Databricks Files API (2.0) that ``databricks-sdk`` uses on volumes.

Served (mounted on the local runner, so ``/api/`` bearer-token authentication applies):

- ``PUT /api/2.0/fs/files{path}?overwrite=true|false``: single-shot upload of the raw body;
- ``GET /api/2.0/fs/files{path}``: download (``Range`` honoured), ``HEAD``: metadata only;
- ``PUT /api/2.0/fs/directories{path}``: create, with parents, idempotent;
- ``GET /api/2.0/fs/directories{path}``: list (``page_size`` / ``page_token``), ``HEAD``: 200 if the
  directory exists, else 404 (no body either way).

That is what ``WorkspaceClient().files`` ``upload``, ``download``, ``get_metadata``,
``create_directory``, ``get_directory_metadata`` and ``list_directory_contents`` send in
databricks-sdk 0.162 for files under 50 MiB. The SDK first tries presigned URLs
(``fs/create-download-url``, ``?action=initiate-upload``); this stand-in does not offer them, so it
answers 404/405 and the SDK falls back to the Files API on the workspace host, as it does on a
workspace without them (larger uploads then go single-shot too).

Refused the way Databricks refuses, with its error body ``{"error_code": ..., "message": ...}``:
a path not under ``/Volumes/<catalog>/<schema>/<volume>/``, not normalised (empty, ``.`` or ``..``
segments) or whose catalog, schema or volume is no Unity Catalog name (a space, ``.``, ``/``, an
ASCII control character or DEL, or more than 255 characters: docs.databricks.com's "Names",
sql-ref-names) is 400 ``INVALID_PARAMETER_VALUE`` (for such names the status is this stand-in's
choice: a workspace has no such volume, but none was at hand to see its answer); ``overwrite=false``
onto an existing file is 409 ``ALREADY_EXISTS``; a missing file or directory is 404 ``NOT_FOUND``.
Volumes need not be created first: any ``/Volumes/c/s/v`` with valid names exists (an empty
directory until something is written in it). Files live on disk under the factory's ``root`` and
never outside it.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

FILES = "/api/2.0/fs/files"
DIRECTORIES = "/api/2.0/fs/directories"
MAX_PAGE_SIZE = 1000  # Databricks' cap on one listing page
_VOLUME_DEPTH = 4  # "Volumes", catalog, schema, volume
MAX_NAME_LENGTH = 255  # of a Unity Catalog object name
# Not allowed in a Unity Catalog object name: period, space, forward slash, ASCII control characters
# (00-1F) and DELETE (7F) (docs.databricks.com/sql/language-manual/sql-ref-names).
_NOT_IN_UC_NAME = re.compile(r"[. /\x00-\x1f\x7f]")


class FilesApiError(Exception):
    """A refusal, answered as ``{"error_code": code, "message": message}`` with HTTP ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, head: bool = False) -> Response:
        if head:  # a HEAD answer has no body: the status says it all
            return Response(status_code=self.status)
        return JSONResponse({"error_code": self.code, "message": self.message}, status_code=self.status)


def volume_parts(path: str, *, file: bool) -> tuple[str, ...]:
    """The segments of a volume path, ``("Volumes", catalog, schema, volume, *rest)``.

    ``file=True`` needs at least one segment after the volume; a directory may be the volume itself
    (one trailing ``/`` is allowed for directories). Raises :class:`FilesApiError` (400
    ``INVALID_PARAMETER_VALUE``) for anything outside ``/Volumes/<catalog>/<schema>/<volume>/``, not
    normalised (empty, ``.`` or ``..`` segments, backslashes, NUL), or whose catalog, schema or volume
    is not a Unity Catalog name (see :func:`uc_name_problem`).
    """
    if not file and path.endswith("/") and len(path) > 1:
        path = path[:-1]
    parts = tuple(path.split("/")[1:]) if path.startswith("/") else ()
    depth = _VOLUME_DEPTH + 1 if file else _VOLUME_DEPTH
    if len(parts) < depth or parts[0] != "Volumes":
        raise FilesApiError(
            400,
            "INVALID_PARAMETER_VALUE",
            f"Invalid path {path!r}: the Files API serves /Volumes/<catalog>/<schema>/<volume>/"
            + ("<path_to_file>" if file else "[<path_to_directory>]"),
        )
    for part in parts:
        if part in ("", ".", "..") or "\\" in part or "\x00" in part:
            raise FilesApiError(
                400, "INVALID_PARAMETER_VALUE", f"Invalid path {path!r}: it must be absolute and normalized"
            )
    for kind, name in zip(("catalog", "schema", "volume"), parts[1:_VOLUME_DEPTH], strict=True):
        problem = uc_name_problem(name)
        if problem:
            message = f"Invalid path {path!r}: invalid {kind} name {name!r}: {problem}"
            raise FilesApiError(400, "INVALID_PARAMETER_VALUE", message)
    return parts


def uc_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a Unity Catalog catalog, schema or volume; ``None`` if it can.

    The rules of docs.databricks.com's "Names" (sql-ref-names): at most 255 characters, no period,
    space, forward slash, ASCII control character (00-1F) or DELETE (7F).
    """
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"it has {len(name)} characters, more than {MAX_NAME_LENGTH}"
    bad = _NOT_IN_UC_NAME.search(name)
    if bad:
        return f"{bad.group()!r} is not allowed (no period, space, '/' or control character)"
    return None


class VolumeStore:
    """Volume files on disk: ``/Volumes/c/s/v/x`` is ``root/Volumes/c/s/v/x``; never a path outside ``root``.

    ``root=None`` uses a temporary folder, removed when the store is garbage-collected or the
    process exits. Uploads are staged in ``root/.uploads`` and moved into place whole. Every method
    raises :class:`FilesApiError` with the status and error code Databricks answers.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="databricks-files-")
            root = Path(self._temporary.name)
        self.root = root.resolve()
        self.uploads = self.root / ".uploads"

    def on_disk(self, path: str, *, file: bool) -> Path:
        """The local path of volume ``path`` (see :func:`volume_parts`); 400 if it resolves outside."""
        parts = volume_parts(path, file=file)
        target = self.root.joinpath(*parts)
        if not target.resolve().is_relative_to(self.root / "Volumes"):  # e.g. a symlink out of the root
            raise FilesApiError(400, "INVALID_PARAMETER_VALUE", f"Invalid path {path!r}")
        return target

    def existing_file(self, path: str) -> Path:
        """The local file of volume file ``path``; 404 ``NOT_FOUND`` if there is none."""
        target = self.on_disk(path, file=True)
        if not target.is_file():
            raise FilesApiError(404, "NOT_FOUND", f"The file {path} does not exist.")
        return target

    async def write(self, path: str, chunks: AsyncIterator[bytes], overwrite: bool) -> None:
        """Store the bytes of ``chunks`` as volume file ``path``, creating its parent directories.

        409 ``ALREADY_EXISTS`` if ``overwrite`` is false and the file exists, or a directory (or a
        file where a parent directory should be) is in the way.
        """
        target = self.on_disk(path, file=True)
        exists = FilesApiError(409, "ALREADY_EXISTS", f"The file {path} already exists.")
        if target.is_dir():
            raise FilesApiError(409, "ALREADY_EXISTS", f"A directory exists at {path}.")
        if not overwrite and target.exists():
            raise exists
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as err:
            raise FilesApiError(409, "ALREADY_EXISTS", f"A file is in the way of {path}.") from err
        self.uploads.mkdir(parents=True, exist_ok=True)
        staged = self.uploads / uuid.uuid4().hex
        try:
            with staged.open("wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
            if overwrite:
                os.replace(staged, target)
            else:
                try:
                    os.link(staged, target)  # refuses an existing name: no overwrite even in a race
                except FileExistsError as err:
                    raise exists from err
        finally:
            staged.unlink(missing_ok=True)

    def create_directory(self, path: str) -> None:
        """``mkdir -p`` of volume directory ``path``; 409 ``ALREADY_EXISTS`` if a file is in the way."""
        target = self.on_disk(path, file=False)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as err:
            raise FilesApiError(409, "ALREADY_EXISTS", f"A file exists at or above {path}.") from err

    def directory_exists(self, path: str) -> bool:
        """Whether volume directory ``path`` exists; a volume's root always does."""
        target = self.on_disk(path, file=False)
        return len(volume_parts(path, file=False)) == _VOLUME_DEPTH or target.is_dir()

    def list_directory(self, path: str, page_size: int, page_token: str | None) -> dict[str, Any]:
        """One page of directory ``path``: ``{"contents": [entry, ...], "next_page_token": "N"}``.

        Each entry is ``{path, name, is_directory, file_size (files only), last_modified (ms)}``,
        sorted by name; ``next_page_token`` only if more follow. 404 ``NOT_FOUND`` if ``path`` is not
        a directory (a volume's root always is).
        """
        target = self.on_disk(path, file=False)
        if not self.directory_exists(path):
            raise FilesApiError(404, "NOT_FOUND", f"The directory {path} does not exist.")
        size = min(page_size, MAX_PAGE_SIZE) if page_size > 0 else MAX_PAGE_SIZE
        start = int(page_token) if page_token and page_token.isdigit() else 0
        children = sorted(target.iterdir(), key=lambda child: child.name) if target.is_dir() else []
        prefix = "/" + target.relative_to(self.root).as_posix()
        contents = []
        for child in children[start : start + size]:
            stat = child.stat()
            entry: dict[str, Any] = {
                "path": f"{prefix}/{child.name}",
                "name": child.name,
                "is_directory": child.is_dir(),
                "last_modified": int(stat.st_mtime * 1000),
            }
            if not child.is_dir():
                entry["file_size"] = stat.st_size
            contents.append(entry)
        body: dict[str, Any] = {"contents": contents}
        if start + size < len(children):
            body["next_page_token"] = str(start + size)
        return body


def files_router(root: Path | None = None) -> APIRouter:
    """The Files API routes, storing ``/Volumes/...`` under ``root`` (default: a temporary folder).

    Include it in the runner's app (``app.include_router(files_router())``); see :class:`VolumeStore`
    for the layout on disk. Success answers are 204 (upload, create) or 200.
    """
    store = VolumeStore(root)
    router = APIRouter()

    @router.put(FILES + "{path:path}")
    async def upload(path: str, request: Request) -> Response:
        overwrite = request.query_params.get("overwrite", "true").lower() != "false"
        try:
            await store.write(path, request.stream(), overwrite)
        except FilesApiError as err:
            return err.response()
        return Response(status_code=204)

    @router.api_route(FILES + "{path:path}", methods=["GET", "HEAD"])
    async def download(path: str, request: Request) -> Response:
        try:
            target = store.existing_file(path)
        except FilesApiError as err:
            return err.response(head=request.method == "HEAD")
        stat = target.stat()
        headers = {"Last-Modified": formatdate(stat.st_mtime, usegmt=True)}
        return FileResponse(target, media_type="application/octet-stream", headers=headers, stat_result=stat)

    @router.put(DIRECTORIES + "{path:path}")
    async def create_directory(path: str) -> Response:
        try:
            store.create_directory(path)
        except FilesApiError as err:
            return err.response()
        return Response(status_code=204)

    @router.get(DIRECTORIES + "{path:path}")
    async def list_directory(path: str, page_size: int = 0, page_token: str | None = None) -> Response:
        try:
            return JSONResponse(store.list_directory(path, page_size, page_token))
        except FilesApiError as err:
            return err.response()

    @router.head(DIRECTORIES + "{path:path}")
    async def directory_metadata(path: str) -> Response:
        try:
            exists = store.directory_exists(path)
        except FilesApiError as err:
            return err.response(head=True)
        return Response(status_code=200 if exists else 404)

    return router

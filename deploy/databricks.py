"""Deploy the Spark jobs to Databricks: build their wheel and upload it where clusters install it from.

    python -m deploy.databricks [--wheel-uri /Volumes/<catalog>/<schema>/<volume>/<file>.whl]
                                [--profile NAME] [--wheel PATH] [--timeout SECONDS] [--dry-run]

The destination is the DAG's ``wheel_uri`` (``ORDER_TRACKING_WHEEL_URI``, else the default in
``plugins/order_tracking/config.py``): each run's cluster installs ``libraries: [{"whl": wheel_uri}]``.
``--wheel-uri`` overrides it (then set ``ORDER_TRACKING_WHEEL_URI`` to the same path in Composer: the
command ends with a ``note:`` saying so). The destination's catalog, schema and volume must be Unity
Catalog names and its file name a wheel's. The wheel's file name must equal the destination's (same
version), else nothing is uploaded: the DAG would point at a file that is not there. ``--wheel``
deploys an already built wheel (one CI built and tested) instead of building one; it must be a wheel
(a zip archive whose ``*.dist-info`` has ``WHEEL`` and ``METADATA``, ``METADATA``'s name and version
being the file name's).

Authentication is the Databricks SDK's unified authentication: ``DATABRICKS_HOST`` +
``DATABRICKS_TOKEN`` (or any other method the SDK supports), or ``--profile`` from
``~/.databrickscfg``. The identity needs ``READ VOLUME`` and ``WRITE VOLUME`` on the volume (and
``USE CATALOG`` / ``USE SCHEMA``); the volume must exist. Before anything is built, one call (the
volume root's directory metadata, ``HEAD /api/2.0/fs/directories/Volumes/c/s/v``) checks that the
host answers, accepts the credentials and shows the volume. Each SDK call gives up after
``--timeout`` seconds (default 10: the SDK's own defaults are 60 s a request and 5 minutes of
retries), so a wrong or unreachable host fails after about that long (the SDK's host-metadata probe
spends it; the check then retries briefly) with an error naming the host. The upload goes through
the Files API (``WorkspaceClient().files``), overwriting the file of the same name.

Output, one line per action (the same in a dry run, which ends with ``dry run: ...``)::

    wheel /path/to/given.whl (29940 bytes)               (with --wheel)
    workspace https://<workspace-host>                   (not in a dry run)
    build /path/to/repo -> order_tracking_spark_tasks-0.1.0-py3-none-any.whl (29940 bytes)
    mkdir /Volumes/main/order_tracking/artifacts/sub     (only below the volume's root)
    upload order_tracking_spark_tasks-0.1.0-py3-none-any.whl -> /Volumes/main/.../...whl (29940 bytes)
    verified /Volumes/main/.../...whl (29940 bytes)     (not in a dry run)

A refusal ends the command with one ``error: ...`` line on stderr and exit status 1.

A dry run builds the wheel in a temporary folder (pip may fetch the build backend, setuptools,
from the package index, as any build does; with ``--wheel`` there is no build) and makes no
Databricks call: it needs no credentials.

databricks-sdk 0.162 asks every host for ``/.well-known/databricks-config`` when a client is made
and logs a warning when there is none (the local runner has none): this command holds that one
warning back, and shows it only if the host then refuses the credentials (it may explain why).

Why not a Databricks Asset Bundle (``databricks.yml`` + ``databricks bundle deploy``)? A bundle is
validated and deployed by the Databricks CLI, a Go binary published on GitHub releases, Homebrew
and an install script, none of which the registries this project may use serve: PyPI's
``databricks-cli`` is the legacy 0.18 CLI without bundles, ``databricks-bundles`` needs the Go CLI,
and the Go module proxy refuses ``github.com/databricks/cli`` (403), so ``go install`` fails too. A
bundle that could be neither validated nor tested here would be a second, untested description of
the deployment. And the only artifact to deploy is the wheel: the DAG submits one-time runs
(``runs/submit``), there is no Databricks job definition for a bundle to own. The SDK's Files API
does the upload with the same unified authentication the CLI uses, and the local runner serves
that API for the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from deploy import REPO, DeployError, pipeline_config, size_text, timeout_seconds

Emit = Callable[[str], None]
DEFAULT_TIMEOUT_SECONDS = 10
_VOLUME_DEPTH = 4  # "Volumes", catalog, schema, volume
_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in")
_MAX_UC_NAME = 255
# Not allowed in a Unity Catalog object name: period, space, forward slash, ASCII control characters
# (00-1F) and DELETE (7F); at most 255 characters (docs.databricks.com/sql/language-manual/sql-ref-names).
_NOT_IN_UC_NAME = re.compile(r"[. /\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_PLAIN_SQL_NAME = re.compile(r"[A-Za-z0-9_]+")
# {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl (the wheel spec)
_WHEEL_FILE = re.compile(
    r"(?P<name>[A-Za-z0-9_.]+)-(?P<version>[A-Za-z0-9_.!+]+)(?:-(?P<build>\d[A-Za-z0-9_.]*))?"
    r"-(?P<python>[A-Za-z0-9_.]+)-(?P<abi>[A-Za-z0-9_.]+)-(?P<platform>[A-Za-z0-9_.]+)\.whl"
)
_HOST_METADATA_WARNING = "Failed to automatically resolve config from host metadata"


class WheelMismatchError(DeployError):
    """The wheel's file name (name, version, tags) is not the file name ``wheel_uri`` names."""


def _sql_name(name: str) -> str:
    return name if _PLAIN_SQL_NAME.fullmatch(name) else f"`{name}`"


@dataclass(frozen=True)
class VolumePath:
    """A file in a Unity Catalog volume: ``/Volumes/<catalog>/<schema>/<volume>/[dirs/]<file>``."""

    path: str

    @property
    def parts(self) -> list[str]:
        return self.path.split("/")[1:]

    @property
    def volume(self) -> str:
        """``catalog.schema.volume`` as ``GRANT ... ON VOLUME`` names it (back-quoted if need be)."""
        return ".".join(_sql_name(part) for part in self.parts[1:_VOLUME_DEPTH])

    @property
    def volume_root(self) -> str:
        return "/" + "/".join(self.parts[:_VOLUME_DEPTH])

    @property
    def directory(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[1]


def uc_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a Unity Catalog catalog, schema or volume; ``None`` if it can."""
    if len(name) > _MAX_UC_NAME:
        return f"it has {len(name)} characters, more than {_MAX_UC_NAME}"
    bad = _NOT_IN_UC_NAME.search(name)
    if bad:
        return f"{bad.group()!r} is not allowed (no period, space, '/' or control character)"
    return None


def volume_path(wheel_uri: str) -> VolumePath:
    """``wheel_uri`` as a :class:`VolumePath`.

    Raises :class:`DeployError` unless it is ``/Volumes/<catalog>/<schema>/<volume>/[...]/<file>.whl``
    with no empty, ``.`` or ``..`` segment, no control character or backslash, a catalog, schema and
    volume that are Unity Catalog names (:func:`uc_name_problem`) and a wheel's file name
    (``<name>-<version>-<python>-<abi>-<platform>.whl``). Workspace files, DBFS and cloud URIs are
    not deployed by this tool.
    """
    parts = wheel_uri.split("/")[1:] if wheel_uri.startswith("/Volumes/") else []
    problem = None
    if (
        len(parts) <= _VOLUME_DEPTH
        or any(part in ("", ".", "..") for part in parts)
        or not parts[-1].endswith(".whl")
    ):
        problem = "it must be /Volumes/<catalog>/<schema>/<volume>/<file>.whl, without empty, . or .. parts"
    else:
        for kind, name in zip(("catalog", "schema", "volume"), parts[1:_VOLUME_DEPTH], strict=True):
            name_problem = uc_name_problem(name)
            if name_problem:
                problem = f"{kind} {name!r}: {name_problem}"
                break
        else:
            if any(_CONTROL.search(part) for part in parts[_VOLUME_DEPTH:]):
                problem = "a control character or backslash in a folder or file name"
            elif not _WHEEL_FILE.fullmatch(parts[-1]):
                problem = (
                    f"{parts[-1]!r} is not a wheel's file name "
                    "(<name>-<version>-<python tag>-<abi tag>-<platform tag>.whl)"
                )
    if problem:
        raise DeployError(
            f"wheel URI {wheel_uri!r} is not a Unity Catalog volume path: {problem} "
            "(set ORDER_TRACKING_WHEEL_URI or --wheel-uri)"
        )
    return VolumePath(wheel_uri)


def _normalized(name: str) -> str:
    """A distribution name as wheel file names spell it (PEP 503 normalisation, ``_`` for runs of ``-_.``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_version(file_name: str) -> str:
    match = _WHEEL_FILE.fullmatch(file_name)
    return match.group("version") if match else "?"


def check_wheel_name(wheel_name: str, wheel_uri: str, *, from_flag: bool = False) -> None:
    """Raise :class:`WheelMismatchError` unless ``wheel_uri``'s file name is ``wheel_name``.

    The DAG installs ``libraries: [{"whl": wheel_uri}]`` on each run's cluster: a wheel uploaded
    under any other name (another version, say) would leave that path missing or stale.
    ``from_flag``: the URI came from ``--wheel-uri`` (the fix the message suggests then is that flag).
    """
    configured = wheel_uri.rsplit("/", 1)[-1]
    if configured == wheel_name:
        return
    wanted = f"{wheel_uri.rsplit('/', 1)[0]}/{wheel_name}"
    if from_flag:
        fix = (
            f"Pass --wheel-uri {wanted} (and set ORDER_TRACKING_WHEEL_URI to it in the Composer "
            "environment), or build the version the URI names (pyproject.toml's version)."
        )
    else:
        fix = (
            f"Set ORDER_TRACKING_WHEEL_URI (here and in the Composer environment) to {wanted}, "
            "or pass --wheel-uri, or build the version the URI names (pyproject.toml's version)."
        )
    raise WheelMismatchError(
        f"the wheel is {wheel_name} (version {_wheel_version(wheel_name)}) but the "
        f"{'--wheel-uri' if from_flag else 'configured wheel URI'} {wheel_uri} names {configured} "
        f"(version {_wheel_version(configured)}): the DAG's libraries [{{'whl': wheel_uri}}] would point "
        f"at a file this deploy does not upload. {fix}"
    )


def _project(repo: Path) -> dict[str, Any]:
    return tomllib.loads((repo / "pyproject.toml").read_text())


def expected_wheel_name(repo: Path) -> str:
    """The file name building ``repo`` gives: ``<name>-<version>-py3-none-any.whl`` (a pure wheel)."""
    project = _project(repo).get("project", {})
    return f"{_normalized(str(project.get('name', '?')))}-{project.get('version', '?')}-py3-none-any.whl"


def check_wheel_file(wheel: Path) -> None:
    """Raise :class:`DeployError` unless ``wheel`` is a wheel its file name describes.

    That is: a file named ``<name>-<version>-<python>-<abi>-<platform>.whl``, a zip archive whose
    members read back (CRC-checked), with one ``<name>-<version>.dist-info/`` holding ``WHEEL`` and
    ``METADATA``, ``METADATA``'s ``Name`` and ``Version`` being the file name's.
    """
    match = _WHEEL_FILE.fullmatch(wheel.name)
    if not match:
        raise DeployError(
            f"{wheel} is not a wheel: not a wheel's file name (<name>-<version>-...-<platform>.whl)"
        )
    try:
        with zipfile.ZipFile(wheel) as archive:
            damaged = archive.testzip()
            names = archive.namelist()
            dist_infos = sorted({name.split("/", 1)[0] for name in names if ".dist-info/" in name})
            if damaged is not None:
                raise DeployError(f"{wheel} is damaged: {damaged} does not read back")
            if len(dist_infos) != 1:
                raise DeployError(
                    f"{wheel} is not a wheel: it has {len(dist_infos)} *.dist-info folders, not 1"
                )
            dist_info = dist_infos[0]
            missing = [name for name in ("WHEEL", "METADATA") if f"{dist_info}/{name}" not in names]
            if missing:
                raise DeployError(f"{wheel} is not a wheel: {dist_info}/ lacks {' and '.join(missing)}")
            metadata = HeaderParser().parsestr(
                archive.read(f"{dist_info}/METADATA").decode("utf-8", "replace")
            )
    except zipfile.BadZipFile as error:
        raise DeployError(f"{wheel} is not a wheel: not a zip archive ({error})") from error
    except (zlib.error, EOFError, OSError) as error:  # testzip() raises these on some damage
        raise DeployError(f"{wheel} is damaged: it does not read back ({error})") from error
    name, version = str(metadata.get("Name", "")), str(metadata.get("Version", ""))
    if (_normalized(name), version.replace("-", "_")) != (_normalized(match["name"]), match["version"]):
        raise DeployError(
            f"{wheel} is not the wheel its name says: its METADATA names {name or '?'} {version or '?'}, "
            f"the file name {match['name']} {match['version']}"
        )


def _package_source(package: str, package_dir: Mapping[str, str]) -> str:
    """The folder (relative to the repo) holding ``package``, by setuptools' ``package-dir`` rules."""
    parts = package.split(".")
    for end in range(len(parts), 0, -1):
        mapped = package_dir.get(".".join(parts[:end]))
        if mapped is not None:
            return "/".join([mapped.strip("/"), *parts[end:]]).strip("/")
    root = package_dir.get("", "").strip("/")
    return "/".join([root, *parts] if root else parts)


def _build_sources(repo: Path, into: Path) -> None:
    """Copy what building the wheel reads: pyproject.toml (+ setup files) and the listed packages.

    Each package's folder keeps its place relative to the repo, so ``[tool.setuptools] package-dir``
    (e.g. ``batch_documents`` from ``plugins/batch_documents``) holds in the copy too.
    """
    pyproject = _project(repo)
    setuptools = pyproject.get("tool", {}).get("setuptools", {})
    packages = setuptools.get("packages")
    package_dir = setuptools.get("package-dir", {})
    if not isinstance(packages, list) or not packages or not isinstance(package_dir, dict):
        raise DeployError("pyproject.toml must list the wheel's packages in [tool.setuptools] packages")
    for name in _BUILD_FILES:
        if (repo / name).is_file():
            shutil.copy2(repo / name, into / name)
    readme = pyproject.get("project", {}).get("readme")
    if isinstance(readme, str) and (repo / readme).is_file():
        shutil.copy2(repo / readme, into / readme)
    folders = sorted({_package_source(str(package), package_dir) for package in packages})
    copied: list[str] = []
    for folder in folders:
        if not (repo / folder).is_dir():
            raise DeployError(f"pyproject.toml lists a package in {folder}/, which is not a folder of {repo}")
        if any(folder.startswith(done + "/") for done in copied):
            continue  # a sub-package of a folder already copied
        shutil.copytree(
            repo / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]")
        )
        copied.append(folder)


def build_wheel(repo: Path, out_dir: Path) -> Path:
    """Build the Spark jobs' wheel from ``repo``'s sources into ``out_dir``; return the wheel's path.

    The sources the build reads (``pyproject.toml`` and the packages it lists) are copied to a
    temporary folder first, so the build leaves no ``build/`` or ``*.egg-info`` in the repo.
    ``python -m pip wheel --no-deps`` builds it in an isolated environment (pip fetches the build
    backend declared in pyproject.toml from the package index or its cache). Raises
    :class:`DeployError` if the build fails or does not produce exactly one wheel.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="order-tracking-build-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        _build_sources(repo, source)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out_dir)]
        result = subprocess.run([*command, str(source)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise DeployError(f"building the wheel failed (pip exit {result.returncode}):\n{tail}")
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise DeployError(f"expected one wheel in {out_dir}, found {[wheel.name for wheel in wheels]}")
    return wheels[0]


def _connection_failure(error: BaseException) -> str | None:
    """Why ``error`` means the host was not reached (refused, no such name, no answer, TLS), or ``None``.

    The SDK retries such failures until its retry budget is spent and then raises ``TimeoutError``
    (or ``RuntimeError`` for the Files API's own retries) from the last one: the cause chain is read.
    """
    import requests

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.SSLError):
            return f"TLS failed: {current}"
        if isinstance(current, requests.Timeout):
            return "no answer in time"
        if isinstance(current, requests.ConnectionError):
            text = str(current)
            errno = re.search(r"\[Errno [^\]]+\][^'\"()]*", text)
            return errno.group().strip() if errno else text
        current = current.__cause__ or current.__context__
    return None


def _databricks_error(error: BaseException) -> Any:
    """The ``DatabricksError`` ``error`` is or was retried from (the SDK's ``TimeoutError``), or ``None``."""
    from databricks.sdk.errors import DatabricksError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabricksError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _hint(error: Exception, target: VolumePath) -> str | None:
    from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated

    if isinstance(error, Unauthenticated):
        return "check DATABRICKS_HOST / DATABRICKS_TOKEN or --profile: the credentials were not accepted"
    if isinstance(error, PermissionDenied):
        return (
            f"the identity needs READ VOLUME and WRITE VOLUME on volume {target.volume} (and USE CATALOG, "
            "USE SCHEMA); check DATABRICKS_HOST / DATABRICKS_TOKEN or --profile"
        )
    if isinstance(error, NotFound):
        return (
            f"does volume {target.volume} exist, and may this identity read it? "
            f"(CREATE VOLUME {target.volume}; GRANT READ VOLUME, WRITE VOLUME ON VOLUME {target.volume})"
        )
    return None


def _refusal(error: BaseException, host: str, what: str, target: VolumePath, since: float) -> DeployError:
    """The :class:`DeployError` for SDK ``error`` on ``what``: unreachable host, refusal, or other.

    ``since``: the ``time.monotonic()`` the first attempt to reach ``host`` started.
    """
    unreachable = _connection_failure(error)
    if unreachable is not None:
        waited = time.monotonic() - since
        return DeployError(
            f"cannot reach Databricks at {host}: {unreachable} (gave up after {waited:.0f} s). "
            "Check DATABRICKS_HOST (or the profile's host), the network or proxy; --timeout waits longer"
        )
    refused = _databricks_error(error)
    if refused is not None:
        hint = _hint(refused, target)
        return DeployError(f"Databricks at {host} refused {what}: {refused}" + (f" ({hint})" if hint else ""))
    return DeployError(f"Databricks call on {what} at {host} failed: {type(error).__name__}: {error}")


class _HeldWarnings(logging.Filter):
    """Holds back databricks-sdk's "Failed to automatically resolve config from host metadata" warning.

    The SDK (0.162) asks every host for ``/.well-known/databricks-config`` when a client is made and
    falls back to the explicit configuration when it cannot: a host without it (the local runner)
    is not an error. Every other record passes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.held: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_HOST_METADATA_WARNING):
            self.held.append(message)
            return False
        return True


@contextlib.contextmanager
def _holding_host_metadata_warning() -> Iterator[_HeldWarnings]:
    held = _HeldWarnings()
    logger = logging.getLogger("databricks.sdk")
    logger.addFilter(held)
    try:
        yield held
    finally:
        logger.removeFilter(held)


def workspace_client(profile: str | None, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> Any:
    """A ``WorkspaceClient`` by unified authentication (the environment, or ``profile``).

    Every request waits at most ``timeout`` seconds for an answer and a failing call is retried for
    at most ``timeout`` seconds (the SDK's ``http_timeout_seconds`` / ``retry_timeout_seconds``), the
    host-metadata probe the SDK makes here included. Raises :class:`DeployError` if no credentials
    can be configured (or an authentication flow that needs the network cannot reach it).
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    try:
        config = Config(profile=profile, http_timeout_seconds=timeout, retry_timeout_seconds=timeout)
    except Exception as error:  # ValueError for missing or bad credentials; an OAuth login may not connect
        unreachable = _connection_failure(error)
        reason = f"cannot reach the host ({unreachable})" if unreachable is not None else str(error)
        raise DeployError(
            f"cannot authenticate to Databricks: {reason}. Set DATABRICKS_HOST and DATABRICKS_TOKEN "
            "(or another unified-authentication method), or pass --profile NAME from ~/.databrickscfg"
        ) from error
    return WorkspaceClient(config=config)


def check_volume(client: Any, target: VolumePath, since: float | None = None) -> None:
    """One call before any work: the host answers, takes the credentials and shows ``target``'s volume.

    ``files.get_directory_metadata`` of the volume's root (``HEAD /api/2.0/fs/directories/...``:
    "useful to check if a directory exists and the caller has access to it"). Raises
    :class:`DeployError` naming the host if it cannot be reached, or with a hint on credentials,
    permissions or a missing volume if it refuses. ``since``: when trying to reach the host began
    (default: now), for the message.
    """
    since = time.monotonic() if since is None else since
    try:
        client.files.get_directory_metadata(target.volume_root)
    except Exception as error:  # classified below: unreachable, refused, or unexpected
        raise _refusal(error, client.config.host, f"volume {target.volume}", target, since) from error


def connect(profile: str | None, target: VolumePath, timeout: int, emit: Emit = print) -> Any:
    """:func:`workspace_client`, then :func:`check_volume`; emit ``workspace <host>``.

    The SDK's host-metadata warning is held back (see :class:`_HeldWarnings`); if the host then
    refuses the credentials it is printed on stderr as a ``note:`` before the error, since missing
    metadata may be why an OAuth login failed. When that probe failed only after its ``timeout`` of
    retries (no answer, unlike a host that answers 404), the host has had its chance: the check
    then retries for one second only, so such a host fails in about ``timeout`` seconds, not twice.
    """
    from databricks.sdk import WorkspaceClient

    since = time.monotonic()
    with _holding_host_metadata_warning() as held:
        client = workspace_client(profile, timeout)
        emit(f"workspace {client.config.host}")
        checker = client
        if held.held and time.monotonic() - since >= timeout:
            quick = client.config.copy()
            quick.retry_timeout_seconds = 1
            checker = WorkspaceClient(config=quick)
        try:
            check_volume(checker, target, since)
        except DeployError as error:
            if not isinstance(error.__cause__, Exception) or _connection_failure(error.__cause__) is None:
                for message in held.held:
                    print(f"note: databricks-sdk: {message}", file=sys.stderr)
            raise
    return client


def upload_wheel(
    files: Any,
    wheel: Path,
    target: VolumePath,
    emit: Emit = print,
    *,
    host: str = "the workspace",
) -> None:
    """Upload ``wheel`` to ``target`` with the Files API ``files`` (``WorkspaceClient().files``).

    ``files=None`` is a dry run: the action lines are emitted and nothing is called. Otherwise the
    parent directory is created (below the volume's root), the file is uploaded with
    ``overwrite=True`` and its size read back. Raises :class:`DeployError` (with a hint on
    permissions or a missing volume, or naming ``host`` if it stops answering) if the call fails or
    the size read back differs.
    """
    size = wheel.stat().st_size
    started = time.monotonic()
    try:
        if target.directory != target.volume_root:
            emit(f"mkdir {target.directory}")
            if files is not None:
                files.create_directory(target.directory)
        emit(f"upload {wheel.name} -> {target.path} {size_text(size)}")
        if files is None:
            return
        with wheel.open("rb") as contents:
            files.upload(target.path, contents, overwrite=True)
        stored = files.get_metadata(target.path).content_length
    except Exception as error:  # classified: unreachable, refused, or unexpected
        raise _refusal(error, host, target.path, target, started) from error
    if stored != size:
        raise DeployError(f"{target.path} holds {stored} bytes after the upload, expected {size}")
    emit(f"verified {target.path} {size_text(size)}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.databricks",
        description="Build the spark_tasks wheel and upload it to the volume path the DAG names.",
    )
    parser.add_argument(
        "--wheel-uri",
        help="destination /Volumes/... path (default: ORDER_TRACKING_WHEEL_URI or the DAG's default)",
    )
    parser.add_argument(
        "--profile", help="a ~/.databrickscfg profile (default: unified auth from the environment)"
    )
    parser.add_argument("--wheel", type=Path, help="deploy this already built wheel instead of building one")
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds a Databricks call may wait and retry (default {DEFAULT_TIMEOUT_SECONDS})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be built and uploaded; no Databricks call"
    )
    return parser


def main(argv: Sequence[str] | None = None, emit: Emit = print) -> int:
    """Run the command; return its exit status (0 done, 1 refused: the reason is on stderr, 2 usage).

    Local checks come first (configuration, destination, a given wheel's contents and name, or the
    version pyproject.toml would build), then the Databricks check (not in a dry run), then the build,
    then the upload: a wrong host, token or volume is reported before any wheel is built.
    """
    args = _parser().parse_args(argv)
    try:
        configured = pipeline_config().wheel_uri
        target = volume_path(args.wheel_uri or configured)
        from_flag = bool(args.wheel_uri)
        given = args.wheel.resolve() if args.wheel is not None else None
        if given is not None:
            if not given.is_file():
                raise DeployError(f"no wheel at {args.wheel}")
            check_wheel_file(given)
            emit(f"wheel {given} {size_text(given.stat().st_size)}")
            check_wheel_name(given.name, target.path, from_flag=from_flag)
        else:
            check_wheel_name(expected_wheel_name(REPO), target.path, from_flag=from_flag)
        client = None if args.dry_run else connect(args.profile, target, args.timeout, emit)
        with tempfile.TemporaryDirectory(prefix="order-tracking-wheel-") as tmp:
            wheel = given
            if wheel is None:
                wheel = build_wheel(REPO, Path(tmp))
                emit(f"build {REPO} -> {wheel.name} {size_text(wheel.stat().st_size)}")
                check_wheel_file(wheel)
                check_wheel_name(wheel.name, target.path, from_flag=from_flag)
            host = client.config.host if client is not None else "the workspace"
            files = client.files if client is not None else None
            upload_wheel(files, wheel, target, emit, host=host)
        if args.dry_run:
            emit("dry run: nothing was uploaded")
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if from_flag and args.wheel_uri != configured:
        print(
            f"note: the DAG's wheel URI is {configured} here; "
            f"set ORDER_TRACKING_WHEEL_URI={args.wheel_uri} in the Composer environment",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

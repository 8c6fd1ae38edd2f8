"""Deploy the Spark jobs to Databricks: build their wheel and upload it where clusters install it from.

    python -m deploy.databricks [--wheel-uri /Volumes/<catalog>/<schema>/<volume>/<file>.whl]
                                [--profile NAME] [--wheel PATH] [--dry-run]

The destination is the DAG's ``wheel_uri`` (``ORDER_TRACKING_WHEEL_URI``, else the default in
``plugins/order_tracking/config.py``): each run's cluster installs ``libraries: [{"whl": wheel_uri}]``.
``--wheel-uri`` overrides it (then set ``ORDER_TRACKING_WHEEL_URI`` to the same path in Composer).
The wheel's file name must equal the destination's (same version), else nothing is uploaded: the
DAG would point at a file that is not there. ``--wheel`` deploys an already built wheel (one CI
built and tested) instead of building one.

Authentication is the Databricks SDK's unified authentication: ``DATABRICKS_HOST`` +
``DATABRICKS_TOKEN`` (or any other method the SDK supports), or ``--profile`` from
``~/.databrickscfg``. The identity needs ``WRITE VOLUME`` on the volume (and ``USE CATALOG`` /
``USE SCHEMA``); the volume must exist. The upload goes through the Files API
(``WorkspaceClient().files``), overwriting the file of the same name.

Output, one line per action (the same in a dry run, which ends with ``dry run: ...``)::

    build /path/to/repo -> order_tracking_spark_tasks-0.1.0-py3-none-any.whl (29940 bytes)
    workspace https://<workspace-host>                   (not in a dry run)
    mkdir /Volumes/main/order_tracking/artifacts/sub     (only below the volume's root)
    upload order_tracking_spark_tasks-0.1.0-py3-none-any.whl -> /Volumes/main/.../...whl (29940 bytes)
    verified /Volumes/main/.../...whl (29940 bytes)     (not in a dry run)

A dry run builds the wheel in a temporary folder (pip may fetch the build backend, setuptools,
from the package index, as any build does; with ``--wheel`` there is no build) and makes no
Databricks call: it needs no credentials.

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
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import REPO, DeployError, pipeline_config, size_text

Emit = Callable[[str], None]
_VOLUME_DEPTH = 4  # "Volumes", catalog, schema, volume
_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in")


class WheelMismatchError(DeployError):
    """The wheel's file name (name, version, tags) is not the file name ``wheel_uri`` names."""


@dataclass(frozen=True)
class VolumePath:
    """A file in a Unity Catalog volume: ``/Volumes/<catalog>/<schema>/<volume>/[dirs/]<file>``."""

    path: str

    @property
    def parts(self) -> list[str]:
        return self.path.split("/")[1:]

    @property
    def volume(self) -> str:
        """``catalog.schema.volume``, as ``GRANT WRITE VOLUME ON VOLUME`` names it."""
        return ".".join(self.parts[1:_VOLUME_DEPTH])

    @property
    def volume_root(self) -> str:
        return "/" + "/".join(self.parts[:_VOLUME_DEPTH])

    @property
    def directory(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[1]


def volume_path(wheel_uri: str) -> VolumePath:
    """``wheel_uri`` as a :class:`VolumePath`.

    Raises :class:`DeployError` unless it is ``/Volumes/<catalog>/<schema>/<volume>/[...]/<file>.whl``
    with no empty, ``.`` or ``..`` segment (workspace files, DBFS and cloud URIs are not deployed by
    this tool).
    """
    parts = wheel_uri.split("/")[1:] if wheel_uri.startswith("/Volumes/") else []
    if (
        len(parts) <= _VOLUME_DEPTH
        or any(part in ("", ".", "..") for part in parts)
        or not parts[-1].endswith(".whl")
    ):
        raise DeployError(
            f"wheel URI {wheel_uri!r} is not a Unity Catalog volume path "
            "/Volumes/<catalog>/<schema>/<volume>/<file>.whl (set ORDER_TRACKING_WHEEL_URI or --wheel-uri)"
        )
    return VolumePath(wheel_uri)


def check_wheel_name(wheel_name: str, wheel_uri: str) -> None:
    """Raise :class:`WheelMismatchError` unless ``wheel_uri``'s file name is ``wheel_name``.

    The DAG installs ``libraries: [{"whl": wheel_uri}]`` on each run's cluster: a wheel uploaded
    under any other name (another version, say) would leave that path missing or stale.
    """
    configured = wheel_uri.rsplit("/", 1)[-1]
    if configured == wheel_name:
        return
    built_version = wheel_name.split("-")[1] if wheel_name.count("-") >= 2 else "?"
    wanted_version = configured.split("-")[1] if configured.count("-") >= 2 else "?"
    raise WheelMismatchError(
        f"the wheel is {wheel_name} (version {built_version}) but the configured wheel URI {wheel_uri} "
        f"names {configured} (version {wanted_version}): the DAG's libraries [{{'whl': wheel_uri}}] would "
        f"point at a file this deploy does not upload. Set ORDER_TRACKING_WHEEL_URI (here and in the "
        f"Composer environment) to {wheel_uri.rsplit('/', 1)[0]}/{wheel_name}, or pass --wheel-uri, "
        "or build the version the URI names (pyproject.toml's version)."
    )


def _build_sources(repo: Path, into: Path) -> None:
    """Copy what building the wheel reads: pyproject.toml (+ setup files) and the listed packages."""
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    packages = pyproject.get("tool", {}).get("setuptools", {}).get("packages")
    if not isinstance(packages, list) or not packages:
        raise DeployError("pyproject.toml must list the wheel's packages in [tool.setuptools] packages")
    for name in _BUILD_FILES:
        if (repo / name).is_file():
            shutil.copy2(repo / name, into / name)
    readme = pyproject.get("project", {}).get("readme")
    if isinstance(readme, str) and (repo / readme).is_file():
        shutil.copy2(repo / readme, into / readme)
    for top in sorted({str(package).split(".")[0] for package in packages}):
        shutil.copytree(repo / top, into / top, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))


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


def _hint(error: Exception, target: VolumePath) -> str:
    from databricks.sdk.errors import NotFound, PermissionDenied, Unauthenticated

    if isinstance(error, PermissionDenied | Unauthenticated):
        return (
            f"the identity needs WRITE VOLUME on volume {target.volume} (and USE CATALOG, USE SCHEMA); "
            "check DATABRICKS_HOST / DATABRICKS_TOKEN or --profile"
        )
    if isinstance(error, NotFound):
        return f"does the volume exist? (CREATE VOLUME {target.volume})"
    return "see the Databricks error above"


def upload_wheel(files: Any, wheel: Path, target: VolumePath, emit: Emit = print) -> None:
    """Upload ``wheel`` to ``target`` with the Files API ``files`` (``WorkspaceClient().files``).

    ``files=None`` is a dry run: the action lines are emitted and nothing is called. Otherwise the
    parent directory is created (below the volume's root), the file is uploaded with
    ``overwrite=True`` and its size read back. Raises :class:`DeployError` (with a hint on
    permissions or a missing volume) if Databricks refuses or the size read back differs.
    """
    from databricks.sdk.errors import DatabricksError

    size = wheel.stat().st_size
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
    except DatabricksError as error:
        raise DeployError(f"Databricks refused {target.path}: {error} ({_hint(error, target)})") from error
    if stored != size:
        raise DeployError(f"{target.path} holds {stored} bytes after the upload, expected {size}")
    emit(f"verified {target.path} {size_text(size)}")


def workspace_client(profile: str | None) -> Any:
    """A ``WorkspaceClient`` by unified authentication (the environment, or ``profile``).

    Raises :class:`DeployError` if no credentials can be configured.
    """
    from databricks.sdk import WorkspaceClient

    try:
        return WorkspaceClient(profile=profile) if profile else WorkspaceClient()
    except ValueError as error:
        raise DeployError(
            f"cannot authenticate to Databricks: {error}. Set DATABRICKS_HOST and DATABRICKS_TOKEN "
            "(or another unified-authentication method), or pass --profile NAME from ~/.databrickscfg"
        ) from error


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
        "--dry-run", action="store_true", help="print what would be built and uploaded; no Databricks call"
    )
    return parser


def main(argv: Sequence[str] | None = None, emit: Emit = print) -> int:
    """Run the command; return its exit status (0 done, 1 refused: the reason is on stderr)."""
    args = _parser().parse_args(argv)
    try:
        configured = pipeline_config().wheel_uri
        target = volume_path(args.wheel_uri or configured)
        if args.wheel_uri and args.wheel_uri != configured:
            print(
                f"note: the DAG's wheel URI is {configured} here; "
                f"set ORDER_TRACKING_WHEEL_URI={args.wheel_uri} in the Composer environment",
                file=sys.stderr,
            )
        with tempfile.TemporaryDirectory(prefix="order-tracking-wheel-") as tmp:
            if args.wheel is not None:
                wheel = args.wheel.resolve()
                if not wheel.is_file():
                    raise DeployError(f"no wheel at {args.wheel}")
                emit(f"wheel {wheel} {size_text(wheel.stat().st_size)}")
            else:
                wheel = build_wheel(REPO, Path(tmp))
                emit(f"build {REPO} -> {wheel.name} {size_text(wheel.stat().st_size)}")
            check_wheel_name(wheel.name, target.path)
            if args.dry_run:
                upload_wheel(None, wheel, target, emit)
                emit("dry run: nothing was uploaded")
                return 0
            client = workspace_client(args.profile)
            emit(f"workspace {client.config.host}")
            upload_wheel(client.files, wheel, target, emit)
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

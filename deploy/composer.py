"""Deploy the Airflow side to Cloud Composer: the DAG file(s) and the ``order_tracking`` plugins package.

    python -m deploy.composer (--bucket BUCKET | --environment NAME --location REGION [--project P])
                              [--dry-run [--list-remote]]

Copies ``dags/`` to ``gs://<bucket>/dags/`` and ``plugins/order_tracking/`` to
``gs://<bucket>/plugins/order_tracking/`` (no ``__pycache__``, compiled or hidden files), then
deletes the objects under ``plugins/order_tracking/`` the repo no longer has (a renamed module must
not linger: Airflow would still import it). Nothing else in the bucket is touched: other DAGs in
``dags/`` stay, and so do other plugins. The bucket is ``--bucket``, or the one the environment's
``config.dag_gcs_prefix`` names (``--environment``/``--location``/``--project``, read with the
Composer API; ``--project`` defaults to the credentials' project).

Authentication is Application Default Credentials (``gcloud auth application-default login`` or a
service account); the identity needs ``roles/storage.objectAdmin`` on the environment's bucket (and
``composer.environments.get`` to look the bucket up by environment).

Output, one line per action (the same in a dry run, which ends with ``dry run: ...``)::

    bucket gs://B (environment projects/P/locations/R/environments/N, dags gs://B/dags)
    upload dags/order_tracking_incremental_load.py -> gs://B/dags/order_tracking_incremental_load.py (N bytes)
    upload plugins/order_tracking/config.py -> gs://B/plugins/order_tracking/config.py (N bytes)
    delete gs://B/plugins/order_tracking/old_module.py (N bytes)
    requires apache-airflow-providers-databricks==7.23.0

The ``requires`` lines are the provider packages of ``requirements.txt``: the environment must have
them (its PyPI packages); this tool does not install them.

A dry run with ``--bucket`` makes no network call at all, so it cannot know which stale objects
exist: it prints one ``delete-stale gs://B/plugins/order_tracking/* (...)`` line instead, or, with
``--list-remote``, lists the bucket (read only) and prints the exact ``delete`` lines. A dry
run with ``--environment`` still calls the Composer API (read only) to find the bucket.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import REPO, DeployError, size_text

Emit = Callable[[str], None]
DAGS = "dags"
PLUGIN_PACKAGE = "plugins/order_tracking"
_KEPT_HIDDEN = frozenset({".airflowignore"})
_PROVIDER = re.compile(r"^\s*(apache-airflow-providers-[A-Za-z0-9_.-]+\s*[=<>!~].*?)\s*(#.*)?$")


@dataclass(frozen=True)
class Upload:
    """A repo file (``source``, relative to the repo) and its object name in the bucket."""

    source: str
    name: str
    size: int


def _wanted(path: Path, top: Path) -> bool:
    relative = path.relative_to(top)
    if any(part == "__pycache__" for part in relative.parts):
        return False
    if any(part.startswith(".") and part not in _KEPT_HIDDEN for part in relative.parts):
        return False
    return path.is_file() and path.suffix not in (".pyc", ".pyo")


def planned_uploads(repo: Path = REPO, dags_prefix: str = "dags/") -> list[Upload]:
    """What the deploy uploads: every file of ``dags/`` (under ``dags_prefix``) and of
    ``plugins/order_tracking/`` (under ``plugins/order_tracking/``), sorted.

    Skipped: ``__pycache__`` folders, ``*.pyc`` / ``*.pyo`` and hidden files (except
    ``.airflowignore``). Raises :class:`DeployError` if either folder is missing or empty.
    """
    uploads: list[Upload] = []
    for folder, prefix in ((DAGS, dags_prefix), (PLUGIN_PACKAGE, PLUGIN_PACKAGE + "/")):
        top = repo / folder
        files = sorted(path for path in top.rglob("*") if _wanted(path, top)) if top.is_dir() else []
        if not files:
            raise DeployError(f"nothing to deploy in {top}")
        for path in files:
            relative = path.relative_to(top).as_posix()
            uploads.append(Upload(f"{folder}/{relative}", prefix + relative, path.stat().st_size))
    return uploads


def provider_requirements(requirements: Path = REPO / "requirements.txt") -> list[str]:
    """The ``apache-airflow-providers-*`` pins of ``requirements`` (e.g. ``...-databricks==7.23.0``)."""
    pins = []
    for line in requirements.read_text().splitlines():
        match = _PROVIDER.match(line)
        if match:
            pins.append(re.sub(r"\s+", "", match.group(1)))
    return pins


def stale_objects(bucket: Any, uploads: Iterable[Upload]) -> list[tuple[str, int]]:
    """``(name, size)`` of the objects under ``plugins/order_tracking/`` that no upload writes.

    ``bucket`` is a ``google.cloud.storage.Bucket``; one listing call. Folder placeholders (names
    ending in ``/``) are left alone.
    """
    keep = {upload.name for upload in uploads}
    listed = bucket.client.list_blobs(bucket, prefix=PLUGIN_PACKAGE + "/")
    return [
        (blob.name, int(blob.size or 0))
        for blob in listed
        if blob.name not in keep and not blob.name.endswith("/")
    ]


def environment_name(environment: str, location: str, project: str | None) -> str:
    """``projects/<project>/locations/<location>/environments/<environment>``.

    ``project`` defaults to Application Default Credentials' project; raises :class:`DeployError`
    if there is none.
    """
    if project is None:
        from google.auth import default
        from google.auth.exceptions import DefaultCredentialsError

        try:
            _, project = default()
        except DefaultCredentialsError as error:
            raise DeployError(f"no Google credentials: {error}") from error
        if not project:
            raise DeployError("the credentials name no project: pass --project")
    return f"projects/{project}/locations/{location}/environments/{environment}"


def composer_dags_prefix(name: str, client: Any = None) -> str:
    """Environment ``name``'s ``config.dag_gcs_prefix`` (``gs://<bucket>/dags``), from the Composer API.

    ``client`` defaults to a new ``EnvironmentsClient`` (one read-only ``get_environment`` call).
    Raises :class:`DeployError` if the API refuses or the environment has no DAGs folder.
    """
    from google.api_core import exceptions

    if client is None:
        from google.cloud.orchestration.airflow.service_v1 import EnvironmentsClient

        client = EnvironmentsClient()
    try:
        prefix = str(client.get_environment(name=name).config.dag_gcs_prefix)
    except exceptions.GoogleAPIError as error:
        raise DeployError(f"cannot read Composer environment {name}: {error}") from error
    if not prefix.startswith("gs://"):
        raise DeployError(f"Composer environment {name} has no DAGs folder (dag_gcs_prefix={prefix!r})")
    return prefix


def split_gcs_prefix(prefix: str) -> tuple[str, str]:
    """``gs://bucket/dags`` -> ``("bucket", "dags/")``; raises :class:`DeployError` if not a gs:// URI."""
    match = re.fullmatch(r"gs://([^/]+)/?(.*)", prefix)
    if not match:
        raise DeployError(f"not a gs:// prefix: {prefix!r}")
    bucket, path = match.groups()
    return bucket, (path.rstrip("/") + "/") if path else ""


def deploy(
    bucket_name: str,
    uploads: Sequence[Upload],
    client: Any,
    *,
    dry_run: bool,
    list_remote: bool = False,
    repo: Path = REPO,
    emit: Emit = print,
) -> None:
    """Upload ``uploads`` into ``bucket_name``, then delete the stale plugin objects; emit each action.

    ``client`` is a ``google.cloud.storage.Client`` (unused in a dry run unless ``list_remote``).
    Uploads go first, so a renamed module is never missing under both names. Raises
    :class:`DeployError` if Cloud Storage refuses a call.
    """
    from google.api_core import exceptions

    bucket: Any = client.bucket(bucket_name) if client is not None else None
    try:
        for upload in uploads:
            emit(f"upload {upload.source} -> gs://{bucket_name}/{upload.name} {size_text(upload.size)}")
            if not dry_run:
                bucket.blob(upload.name).upload_from_filename(str(repo / upload.source))
        if dry_run and not list_remote:
            emit(
                f"delete-stale gs://{bucket_name}/{PLUGIN_PACKAGE}/* (objects not in the repo; "
                "a dry run does not list the bucket: add --list-remote)"
            )
            return
        for name, size in stale_objects(bucket, uploads):
            emit(f"delete gs://{bucket_name}/{name} {size_text(size)}")
            if not dry_run:
                bucket.blob(name).delete()
    except exceptions.GoogleAPIError as error:
        raise DeployError(
            f"Cloud Storage refused: {error} (the identity needs roles/storage.objectAdmin on gs://{bucket_name})"
        ) from error


def storage_client(project: str | None) -> Any:
    """A ``google.cloud.storage.Client`` by Application Default Credentials (``STORAGE_EMULATOR_HOST``
    points it at an emulator, anonymously). Raises :class:`DeployError` without credentials."""
    import google.cloud.storage as gcs
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return gcs.Client(project=project)
    except DefaultCredentialsError as error:
        raise DeployError(f"no Google credentials: {error}") from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.composer",
        description="Copy dags/ and plugins/order_tracking/ into a Cloud Composer environment's bucket.",
    )
    parser.add_argument("--bucket", help="the environment's bucket (name or gs://name)")
    parser.add_argument("--environment", help="the Composer environment (its bucket is looked up)")
    parser.add_argument("--location", help="the environment's region, e.g. europe-west1")
    parser.add_argument("--project", help="the Google Cloud project (default: the credentials' project)")
    parser.add_argument("--dry-run", action="store_true", help="print the actions; upload and delete nothing")
    parser.add_argument(
        "--list-remote",
        action="store_true",
        help="in a dry run, list the bucket to print the exact deletions",
    )
    return parser


def main(argv: Sequence[str] | None = None, emit: Emit = print) -> int:
    """Run the command; return its exit status (0 done, 1 refused: the reason is on stderr, 2 usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.bucket) == bool(args.environment):
        parser.error("give either --bucket or --environment (with --location)")
    if args.environment and not args.location:
        parser.error("--environment needs --location")
    if args.list_remote and not args.dry_run:
        parser.error("--list-remote is for dry runs (a real run always lists)")
    try:
        if args.bucket:
            bucket_name, dags_prefix = args.bucket.removeprefix("gs://").strip("/"), "dags/"
            if not bucket_name or "/" in bucket_name:
                raise DeployError(f"--bucket takes a bucket name, not {args.bucket!r}")
        else:
            name = environment_name(args.environment, args.location, args.project)
            prefix = composer_dags_prefix(name)
            bucket_name, dags_prefix = split_gcs_prefix(prefix)
            emit(f"bucket gs://{bucket_name} (environment {name}, dags {prefix})")
        uploads = planned_uploads(REPO, dags_prefix)
        client = storage_client(args.project) if not args.dry_run or args.list_remote else None
        deploy(bucket_name, uploads, client, dry_run=args.dry_run, list_remote=args.list_remote, emit=emit)
        for pin in provider_requirements():
            emit(f"requires {pin}")
        if args.dry_run:
            emit("dry run: nothing was uploaded or deleted")
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Deploy the Airflow side to Cloud Composer: the DAG file(s) and the ``order_tracking`` plugins package.

    python -m deploy.composer (--bucket BUCKET | --environment NAME --location REGION [--project P])
                              [--dry-run [--list-remote]] [--timeout SECONDS]

Copies ``dags/`` to ``gs://<bucket>/dags/`` and the plugin packages ``plugins/batch_documents/`` and
``plugins/order_tracking/`` to ``gs://<bucket>/plugins/<package>/`` (no ``__pycache__``, compiled or
hidden files), then deletes the objects under those two prefixes the repo no longer has (a renamed
module must not linger: Airflow would still import it). Nothing else in the bucket is touched: other
DAGs in ``dags/`` stay, and so do other plugins. The bucket is ``--bucket`` (checked against Cloud
Storage's bucket naming rules first), or the one the environment's ``config.dag_gcs_prefix`` names
(``--environment``/``--location``/``--project``, read with the Composer API; ``--project`` defaults
to the credentials' project).

Authentication is Application Default Credentials (``gcloud auth application-default login`` or a
service account); the identity needs ``roles/storage.objectAdmin`` on the environment's bucket (and
``composer.environments.get`` to look the bucket up by environment). Before anything is uploaded, one
read-only listing checks that Cloud Storage answers and that the bucket exists and may be listed;
each of these first calls gives up after ``--timeout`` seconds (default 20). A refusal ends the
command with one ``error: ...`` line on stderr and exit status 1: no credentials, credentials
refused, ``bucket gs://B does not exist`` (404), ``cannot reach ...`` (no connection), or, for a 403
only, the role the identity needs.

Output, one line per action (the same in a dry run, which ends with ``dry run: ...``)::

    bucket gs://B (environment projects/P/locations/R/environments/N, dags gs://B/dags)
    upload dags/order_tracking_incremental_load.py -> gs://B/dags/order_tracking_incremental_load.py (N bytes)
    upload plugins/order_tracking/config.py -> gs://B/plugins/order_tracking/config.py (N bytes)
    delete gs://B/plugins/order_tracking/old_module.py (N bytes)
    requires apache-airflow-providers-databricks==7.23.0
    uses Composer's own apache-airflow-providers-google (do not pin it)

The ``requires`` lines are the provider packages of ``requirements.txt`` that Composer does not
preinstall: the environment must have them (its PyPI packages); this tool does not install them.
The Google provider comes with every Composer image, and pinning it there fights the image's own
constraints, so it gets a ``uses`` line instead (the lanes prove the DAG on the images' 22.2.x).

A dry run with ``--bucket`` makes no network call at all, so it cannot know whether the bucket
exists or which stale objects it holds: it prints one ``delete-stale gs://B/plugins/<package>/* (...)``
line a package instead, or, with ``--list-remote``, checks and lists the bucket (read only) and prints
the exact ``delete`` lines. A dry run with ``--environment`` still calls the Composer API (read only)
to find the bucket.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import REPO, DeployError, bucket_name_problem, pipeline_config, size_text, timeout_seconds

Emit = Callable[[str], None]
DAGS = "dags"
# The plugin packages the DAG imports (order_tracking imports batch_documents), each deployed whole.
PLUGIN_PACKAGES = ("plugins/batch_documents", "plugins/order_tracking")
DEFAULT_TIMEOUT_SECONDS = 20
_KEPT_HIDDEN = frozenset({".airflowignore"})
_PROVIDER = re.compile(r"^\s*((apache-airflow-providers-[A-Za-z0-9_.-]+?)\s*[=<>!~].*?)\s*(#.*)?$")
# Providers every Composer image ships (https://cloud.google.com/composer/docs/composer-versions):
# the environment's own version is used, never a pin of ours.
COMPOSER_PREINSTALLED = frozenset({"apache-airflow-providers-google"})
# gRPC reports credentials that cannot be refreshed as UNAVAILABLE with this text.
_PLUGIN_AUTH_FAILED = "Getting metadata from plugin failed"


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
    """What the deploy uploads: every file of ``dags/`` (under ``dags_prefix``) and of each of
    :data:`PLUGIN_PACKAGES` (``plugins/<package>/``, under the same name), sorted.

    Skipped: ``__pycache__`` folders, ``*.pyc`` / ``*.pyo`` and hidden files (except
    ``.airflowignore``). Raises :class:`DeployError` if a folder is missing or empty.
    """
    uploads: list[Upload] = []
    folders = [(DAGS, dags_prefix), *((package, package + "/") for package in PLUGIN_PACKAGES)]
    for folder, prefix in folders:
        top = repo / folder
        files = sorted(path for path in top.rglob("*") if _wanted(path, top)) if top.is_dir() else []
        if not files:
            raise DeployError(f"nothing to deploy in {top}")
        for path in files:
            relative = path.relative_to(top).as_posix()
            uploads.append(Upload(f"{folder}/{relative}", prefix + relative, path.stat().st_size))
    return uploads


def provider_requirements(requirements: Path = REPO / "requirements.txt") -> list[str]:
    """The ``apache-airflow-providers-*`` pins of ``requirements`` (e.g. ``...-databricks==7.23.0``)
    that a Composer environment must add: those of :data:`COMPOSER_PREINSTALLED` are left out."""
    pins = []
    for line in requirements.read_text().splitlines():
        match = _PROVIDER.match(line)
        if match and match.group(2) not in COMPOSER_PREINSTALLED:
            pins.append(re.sub(r"\s+", "", match.group(1)))
    return pins


def stale_objects(bucket: Any, uploads: Iterable[Upload]) -> list[tuple[str, int]]:
    """``(name, size)`` of the objects under each ``plugins/<package>/`` that no upload writes.

    ``bucket`` is a ``google.cloud.storage.Bucket``; one listing call a package. Folder
    placeholders (names ending in ``/``) are left alone.
    """
    keep = {upload.name for upload in uploads}
    return [
        (blob.name, int(blob.size or 0))
        for package in PLUGIN_PACKAGES
        for blob in bucket.client.list_blobs(bucket, prefix=package + "/")
        if blob.name not in keep and not blob.name.endswith("/")
    ]


def _connection_failure(error: BaseException) -> str | None:
    """Why ``error`` means Google's endpoint was not reached (refused, no such name, no answer), or ``None``.

    Retries wrap the last failure (``RetryError`` ``.cause``, ``raise ... from``): the chain is read.
    """
    import requests
    from google.api_core import exceptions
    from google.auth.exceptions import TransportError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.Timeout | TimeoutError):
            return "no answer in time"
        if isinstance(current, requests.ConnectionError | TransportError | ConnectionError):
            text = str(current)
            errno = re.search(r"\[Errno [^\]]+\][^'\"()]*", text)
            return errno.group().strip() if errno else text
        if isinstance(current, exceptions.ServiceUnavailable | exceptions.DeadlineExceeded):
            return None if _PLUGIN_AUTH_FAILED in str(current) else str(current)
        cause = current.cause if isinstance(current, exceptions.RetryError) else None
        current = cause or current.__cause__ or current.__context__
    return None


def _google_errors() -> tuple[type[BaseException], ...]:
    """What a Google client call raises for a refusal or a transport failure (for ``except``)."""
    import requests
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    return (GoogleAPIError, GoogleAuthError, requests.RequestException, ConnectionError, TimeoutError)


def _credentials_failure(error: BaseException) -> str | None:
    """The message for missing or refused Google credentials, or ``None`` if ``error`` is another failure."""
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    if isinstance(error, DefaultCredentialsError):
        return (
            f"no Google credentials: {error} (run `gcloud auth application-default login`, or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service account's key file)"
        )
    refused = isinstance(error, RefreshError | exceptions.Unauthorized | exceptions.Unauthenticated)
    if refused or (isinstance(error, exceptions.ServiceUnavailable) and _PLUGIN_AUTH_FAILED in str(error)):
        return (
            f"the Google credentials were refused: {error} "
            "(run `gcloud auth application-default login` again, or check the service account)"
        )
    return None


def storage_failure(
    error: BaseException, bucket_name: str, endpoint: str, *, checking: bool = False
) -> DeployError:
    """The :class:`DeployError` for a failed Cloud Storage call on ``bucket_name`` at ``endpoint``.

    ``checking``: the call was the first listing of the bucket, so a 404 means the bucket is missing.
    The role the identity needs is named for a 403 only.
    """
    from google.api_core import exceptions

    unreachable = _connection_failure(error)
    if unreachable is not None:
        return DeployError(
            f"cannot reach Cloud Storage at {endpoint}: {unreachable} (check the network or proxy"
            + (", and STORAGE_EMULATOR_HOST)" if "googleapis.com" not in endpoint else ")")
        )
    credentials = _credentials_failure(error)
    if credentials is not None:
        return DeployError(credentials)
    if isinstance(error, exceptions.NotFound) and checking:
        return DeployError(
            f"bucket gs://{bucket_name} does not exist (check --bucket, or the environment's dags folder)"
        )
    if isinstance(error, exceptions.Forbidden):
        return DeployError(
            f"Cloud Storage refused: {error} (the identity needs roles/storage.objectAdmin on gs://{bucket_name})"
        )
    return DeployError(f"Cloud Storage refused: {error}")


def check_bucket(client: Any, bucket_name: str, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> None:
    """One read-only listing (at most one object) of ``bucket_name``: it exists, answers and may be listed.

    The deploy lists the bucket anyway (stale modules), with the same permission. Retried for at
    most ``timeout`` seconds. Raises :class:`DeployError` (see :func:`storage_failure`).
    """
    from google.cloud.storage.retry import DEFAULT_RETRY

    try:
        listed = client.list_blobs(
            bucket_name,
            prefix=PLUGIN_PACKAGES[-1] + "/",
            max_results=1,
            timeout=timeout,
            retry=DEFAULT_RETRY.with_timeout(timeout),
        )
        list(listed)
    except _google_errors() as error:
        raise storage_failure(error, bucket_name, client.api_endpoint, checking=True) from error


def environment_name(environment: str, location: str, project: str | None) -> str:
    """``projects/<project>/locations/<location>/environments/<environment>``.

    ``project`` defaults to Application Default Credentials' project; raises :class:`DeployError`
    if there is none.
    """
    if project is None:
        from google.auth import default
        from google.auth.exceptions import GoogleAuthError

        try:
            _, project = default()
        except GoogleAuthError as error:
            raise DeployError(_credentials_failure(error) or f"no Google credentials: {error}") from error
        if not project:
            raise DeployError("the credentials name no project: pass --project")
    return f"projects/{project}/locations/{location}/environments/{environment}"


def composer_failure(error: BaseException, name: str) -> DeployError:
    """The :class:`DeployError` for a failed Composer API call reading environment ``name``."""
    from google.api_core import exceptions

    unreachable = _connection_failure(error)
    if unreachable is not None:
        return DeployError(
            f"cannot reach the Composer API for {name}: {unreachable} (check the network or proxy)"
        )
    credentials = _credentials_failure(error)
    if credentials is not None:
        return DeployError(credentials)
    if isinstance(error, exceptions.NotFound):
        return DeployError(
            f"Composer environment {name} does not exist (check --environment, --location and --project)"
        )
    if isinstance(error, exceptions.Forbidden | exceptions.PermissionDenied):
        return DeployError(
            f"the Composer API refused {name}: {error} (the identity needs composer.environments.get)"
        )
    return DeployError(f"cannot read Composer environment {name}: {error}")


def composer_dags_prefix(name: str, client: Any = None, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> str:
    """Environment ``name``'s ``config.dag_gcs_prefix`` (``gs://<bucket>/dags``), from the Composer API.

    ``client`` defaults to a new ``EnvironmentsClient`` (one read-only ``get_environment`` call,
    retried for at most ``timeout`` seconds). Raises :class:`DeployError` without credentials, if
    the API cannot be reached or refuses, or if the environment has no DAGs folder.
    """
    from google.api_core.retry import Retry

    try:
        if client is None:
            from google.cloud.orchestration.airflow.service_v1 import EnvironmentsClient

            client = EnvironmentsClient()
        environment = client.get_environment(name=name, retry=Retry(timeout=timeout), timeout=timeout)
        prefix = str(environment.config.dag_gcs_prefix)
    except _google_errors() as error:
        raise composer_failure(error, name) from error
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
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Upload ``uploads`` into ``bucket_name``, then delete the stale plugin objects; emit each action.

    ``client`` is a ``google.cloud.storage.Client`` (unused in a dry run unless ``list_remote``);
    with a client the bucket is checked first (:func:`check_bucket`), before any line is emitted.
    Uploads go first, so a renamed module is never missing under both names. Raises
    :class:`DeployError` if Cloud Storage cannot be reached or refuses a call.
    """
    bucket: Any = None
    if client is not None:
        check_bucket(client, bucket_name, timeout)
        bucket = client.bucket(bucket_name)
    try:
        for upload in uploads:
            emit(f"upload {upload.source} -> gs://{bucket_name}/{upload.name} {size_text(upload.size)}")
            if not dry_run:
                bucket.blob(upload.name).upload_from_filename(str(repo / upload.source))
        if dry_run and not list_remote:
            for package in PLUGIN_PACKAGES:
                emit(
                    f"delete-stale gs://{bucket_name}/{package}/* (objects not in the repo; "
                    "a dry run does not list the bucket: add --list-remote)"
                )
            return
        for name, size in stale_objects(bucket, uploads):
            emit(f"delete gs://{bucket_name}/{name} {size_text(size)}")
            if not dry_run:
                bucket.blob(name).delete()
    except _google_errors() as error:
        raise storage_failure(error, bucket_name, client.api_endpoint) from error


def storage_client(project: str | None) -> Any:
    """A ``google.cloud.storage.Client`` by Application Default Credentials (``STORAGE_EMULATOR_HOST``
    points it at an emulator, anonymously). Raises :class:`DeployError` without credentials."""
    import google.cloud.storage as gcs
    from google.auth.exceptions import GoogleAuthError

    try:
        return gcs.Client(project=project)
    except GoogleAuthError as error:
        raise DeployError(_credentials_failure(error) or f"no Google credentials: {error}") from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.composer",
        description="Copy dags/ and the plugins/ packages into a Cloud Composer environment's bucket.",
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
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds the first Google call may wait and retry (default {DEFAULT_TIMEOUT_SECONDS})",
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
        pipeline_config()  # the DAG would not import with a bad ORDER_TRACKING_* setting: say so now
        if args.bucket:
            bucket_name, dags_prefix = args.bucket.removeprefix("gs://").strip("/"), "dags/"
            if not bucket_name or "/" in bucket_name:
                raise DeployError(f"--bucket takes a bucket name, not {args.bucket!r}")
            problem = bucket_name_problem(bucket_name)
            if problem:
                raise DeployError(
                    f"--bucket {args.bucket!r} is not a Cloud Storage bucket name: {problem} "
                    "(https://cloud.google.com/storage/docs/buckets#naming)"
                )
        else:
            name = environment_name(args.environment, args.location, args.project)
            prefix = composer_dags_prefix(name, timeout=args.timeout)
            bucket_name, dags_prefix = split_gcs_prefix(prefix)
            emit(f"bucket gs://{bucket_name} (environment {name}, dags {prefix})")
        uploads = planned_uploads(REPO, dags_prefix)
        client = storage_client(args.project) if not args.dry_run or args.list_remote else None
        deploy(
            bucket_name,
            uploads,
            client,
            dry_run=args.dry_run,
            list_remote=args.list_remote,
            emit=emit,
            timeout=args.timeout,
        )
        for pin in provider_requirements():
            emit(f"requires {pin}")
        for package in sorted(COMPOSER_PREINSTALLED):
            emit(f"uses Composer's own {package} (do not pin it)")
        if args.dry_run:
            emit("dry run: nothing was uploaded or deleted")
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

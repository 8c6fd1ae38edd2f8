"""``python -m deploy.composer`` into the GCS emulator's bucket (standing in for the Composer bucket)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions

from deploy import REPO, DeployError
from deploy.composer import (
    PLUGIN_PACKAGES,
    bucket_name_problem,
    composer_dags_prefix,
    deploy,
    main,
    planned_uploads,
    provider_requirements,
    split_gcs_prefix,
)
from local_stack.settings import BUCKET
from tests.deploy.conftest import Lines, run_failing_command

# requirements.txt also pins the Google provider, which Composer ships: it is never required.
PROVIDERS = [
    "apache-airflow-providers-databricks==7.23.0",
    "apache-airflow-providers-smtp==3.2.0",
    "apache-airflow-providers-slack==9.11.1",
]
USES_GOOGLE = "uses Composer's own apache-airflow-providers-google (do not pin it)"


def _repo_files() -> dict[str, Path]:
    """The files a deploy must copy, found independently of the tool: ``{object name: local file}``."""
    found = {}
    for folder in ("dags", "plugins/batch_documents", "plugins/order_tracking"):
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found[path.relative_to(REPO).as_posix()] = path
    return found


@pytest.fixture
def emulator_env(gcs_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """google-cloud-storage clients made by the tool talk to the emulator, anonymously."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_url)


def _objects(bucket: Any) -> dict[str, Any]:
    return {blob.name: blob for blob in bucket.client.list_blobs(bucket)}


def _upload_lines(bucket_name: str) -> list[str]:
    return [
        f"upload {name} -> gs://{bucket_name}/{name} ({path.stat().st_size} bytes)"
        for name, path in sorted(_repo_files().items())
    ]


def test_the_providers_to_install_are_read_from_requirements_but_composers_own() -> None:
    assert provider_requirements() == PROVIDERS


def test_a_dry_run_lists_every_file_and_destination_and_makes_no_call(
    bucket: Any, emulator_env: None, no_network: list[Any], emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--bucket", BUCKET, "--dry-run"], emit=emitted) == 0

    assert emitted.lines == [
        *_upload_lines(BUCKET),
        f"delete-stale gs://{BUCKET}/plugins/batch_documents/* (objects not in the repo; "
        "a dry run does not list the bucket: add --list-remote)",
        f"delete-stale gs://{BUCKET}/plugins/order_tracking/* (objects not in the repo; "
        "a dry run does not list the bucket: add --list-remote)",
        *(f"requires {pin}" for pin in PROVIDERS),
        USES_GOOGLE,
        "dry run: nothing was uploaded or deleted",
    ]
    assert "upload dags/order_tracking_incremental_load.py -> " in emitted.lines[0]
    assert no_network == []
    monkeypatch.undo()
    assert _objects(bucket) == {}


def test_a_dry_run_with_list_remote_names_the_exact_deletions_and_changes_nothing(
    bucket: Any, emulator_env: None, emitted: Lines
) -> None:
    bucket.blob("plugins/order_tracking/renamed_away.py").upload_from_string(b"# old module\n")
    before = {name: blob.generation for name, blob in _objects(bucket).items()}

    assert main(["--bucket", f"gs://{BUCKET}", "--dry-run", "--list-remote"], emit=emitted) == 0

    deletions = [line for line in emitted.lines if line.startswith("delete")]
    assert deletions == [f"delete gs://{BUCKET}/plugins/order_tracking/renamed_away.py (13 bytes)"]
    assert emitted.lines[: len(_repo_files())] == _upload_lines(BUCKET)
    assert {name: blob.generation for name, blob in _objects(bucket).items()} == before


def test_deploy_copies_the_dags_and_the_plugins_package_byte_for_byte(
    bucket: Any, emulator_env: None, emitted: Lines
) -> None:
    assert main(["--bucket", BUCKET], emit=emitted) == 0

    objects = _objects(bucket)
    expected = _repo_files()
    assert sorted(objects) == sorted(expected)
    for name, path in expected.items():
        assert objects[name].download_as_bytes() == path.read_bytes(), name
    assert emitted.lines == [
        *_upload_lines(BUCKET),
        *(f"requires {pin}" for pin in PROVIDERS),
        USES_GOOGLE,
    ]


def test_a_redeploy_deletes_a_stale_plugin_module_and_touches_nothing_else(
    bucket: Any, emulator_env: None, emitted: Lines
) -> None:
    assert main(["--bucket", BUCKET], emit=lambda line: None) == 0
    stale = {
        "plugins/order_tracking/renamed_away.py": b"# a module the repo renamed\n",
        "plugins/order_tracking/__pycache__/renamed_away.cpython-311.pyc": b"\x00compiled",
    }
    unrelated = {
        "dags/another_teams_dag.py": b"# not ours\n",
        "plugins/other_plugin/module.py": b"# not ours\n",
        "plugins/order_tracking_extras/module.py": b"# a sibling prefix, not ours\n",
        "plugins/order_tracking/": b"",  # a console-made folder placeholder
        "data/orders.csv": b"a,b\n",
    }
    for name, data in {**stale, **unrelated}.items():
        bucket.blob(name).upload_from_string(data)
    generations = {name: blob.generation for name, blob in _objects(bucket).items() if name in unrelated}

    assert main(["--bucket", BUCKET], emit=emitted) == 0

    objects = _objects(bucket)
    assert not set(stale) & set(objects)
    assert {name: objects[name].generation for name in unrelated} == generations
    assert sorted(objects) == sorted([*_repo_files(), *unrelated])
    assert [line for line in emitted.lines if line.startswith("delete")] == [
        f"delete gs://{BUCKET}/{name} ({len(data)} bytes)" for name, data in sorted(stale.items())
    ]
    last_upload = max(i for i, line in enumerate(emitted.lines) if line.startswith("upload"))
    first_delete = min(i for i, line in enumerate(emitted.lines) if line.startswith("delete"))
    assert last_upload < first_delete  # the new modules are in place before the old ones go


def test_the_bucket_comes_from_the_environments_dags_folder(
    bucket: Any, emulator_env: None, emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--environment`` reads ``config.dag_gcs_prefix`` through the Composer API (faked here)."""
    asked: list[str] = []

    class Environments:
        def get_environment(self, name: str, **options: Any) -> Any:
            asked.append(name)
            return SimpleNamespace(config=SimpleNamespace(dag_gcs_prefix=f"gs://{BUCKET}/dags"))

    monkeypatch.setattr(
        "deploy.composer.composer_dags_prefix",
        lambda name, **options: composer_dags_prefix(name, Environments(), **options),
    )
    argv = ["--environment", "orders", "--location", "europe-west1", "--project", "acme", "--dry-run"]

    assert main(argv, emit=emitted) == 0

    name = "projects/acme/locations/europe-west1/environments/orders"
    assert asked == [name]
    assert emitted.lines[0] == f"bucket gs://{BUCKET} (environment {name}, dags gs://{BUCKET}/dags)"
    assert emitted.lines[1 : 1 + len(_repo_files())] == _upload_lines(BUCKET)
    assert _objects(bucket) == {}


def test_the_composer_client_the_google_provider_installs_has_the_dags_prefix() -> None:
    from google.cloud.orchestration.airflow.service_v1 import EnvironmentsClient
    from google.cloud.orchestration.airflow.service_v1.types import EnvironmentConfig

    assert callable(EnvironmentsClient.get_environment)
    assert "dag_gcs_prefix" in EnvironmentConfig.meta.fields


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("gs://us-central1-orders-1a2b3c-bucket/dags", ("us-central1-orders-1a2b3c-bucket", "dags/")),
        ("gs://b/dags/", ("b", "dags/")),
        ("gs://b", ("b", "")),
    ],
)
def test_a_dags_prefix_splits_into_bucket_and_folder(prefix: str, expected: tuple[str, str]) -> None:
    assert split_gcs_prefix(prefix) == expected


def test_an_environment_without_a_dags_folder_is_refused() -> None:
    class Environments:
        def get_environment(self, name: str, **options: Any) -> Any:
            return SimpleNamespace(config=SimpleNamespace(dag_gcs_prefix=""))

    with pytest.raises(DeployError, match="has no DAGs folder"):
        composer_dags_prefix("projects/p/locations/r/environments/e", Environments())


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--bucket", "b", "--environment", "e", "--location", "r"],
        ["--environment", "e"],
        ["--bucket", "b", "--list-remote"],
    ],
)
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2


def test_caches_compiled_and_hidden_files_are_not_deployed(tmp_path: Path) -> None:
    for name in (
        "dags/order_tracking_incremental_load.py",
        "dags/.airflowignore",
        "dags/.DS_Store",
        "dags/__pycache__/order_tracking_incremental_load.cpython-311.pyc",
        "plugins/batch_documents/__init__.py",
        "plugins/order_tracking/__init__.py",
        "plugins/order_tracking/stray.pyc",
        "plugins/order_tracking/sub/__pycache__/x.cpython-311.pyc",
        "plugins/order_tracking/sub/x.py",
        "plugins/order_tracking/.mypy_cache/x.json",
        "plugins/other/y.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    assert [(upload.source, upload.name) for upload in planned_uploads(tmp_path, "dags/")] == [
        ("dags/.airflowignore", "dags/.airflowignore"),
        ("dags/order_tracking_incremental_load.py", "dags/order_tracking_incremental_load.py"),
        ("plugins/batch_documents/__init__.py", "plugins/batch_documents/__init__.py"),
        ("plugins/order_tracking/__init__.py", "plugins/order_tracking/__init__.py"),
        ("plugins/order_tracking/sub/x.py", "plugins/order_tracking/sub/x.py"),
    ]


def test_every_plugin_package_of_the_repo_is_deployed() -> None:
    """order_tracking imports batch_documents: a package left out would break the DAG's import."""
    packages = sorted(f"plugins/{path.parent.name}" for path in (REPO / "plugins").glob("*/__init__.py"))
    assert sorted(PLUGIN_PACKAGES) == packages


# --- failing clearly ---------------------------------------------------------------------------------


@pytest.fixture
def no_google_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Application Default Credentials find nothing (and fail at once: the named key file is missing)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-key.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)


@pytest.mark.parametrize(
    "argv",
    [
        ["--environment", "orders", "--location", "europe-west1", "--project", "acme"],
        ["--environment", "orders", "--location", "europe-west1"],  # the project from the credentials
        ["--bucket", "my-composer-bucket"],
        ["--bucket", "my-composer-bucket", "--dry-run", "--list-remote"],
    ],
)
def test_no_google_credentials_is_one_error_line(
    argv: list[str], no_google_credentials: None, emitted: Lines, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, emit=emitted) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: no Google credentials: ")
    assert "gcloud auth application-default login" in line
    assert emitted.lines == []


def test_the_command_ends_in_one_error_line(no_google_credentials: None) -> None:
    """As a user runs it: exit status 1, one ``error:`` line, no traceback."""
    done = run_failing_command("deploy.composer", "--environment", "E", "--location", "R", "--project", "P")
    assert done.stderr.startswith("error: no Google credentials: ")
    assert done.stdout == ""


@pytest.mark.parametrize("dry_run", [[], ["--dry-run", "--list-remote"]], ids=["deploy", "dry-run"])
def test_a_missing_bucket_is_named_before_any_upload_line(
    dry_run: list[str], bucket: Any, emulator_env: None, emitted: Lines, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--bucket", "no-such-bucket", *dry_run], emit=emitted) == 1

    assert capsys.readouterr().err.splitlines() == [
        "error: bucket gs://no-such-bucket does not exist (check --bucket, or the environment's dags folder)"
    ]
    assert emitted.lines == []


def test_a_refused_connection_is_cannot_reach_before_any_upload_line(
    monkeypatch: pytest.MonkeyPatch, emitted: Lines, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    started = time.monotonic()

    assert main(["--bucket", BUCKET, "--timeout", "1"], emit=emitted) == 1

    assert time.monotonic() - started < 10  # the client's default: 120 s of retries
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "error: cannot reach Cloud Storage at http://127.0.0.1:1: [Errno 111] Connection refused"
    )
    assert "roles/storage" not in line
    assert emitted.lines == []


class _RefusingStorage:
    """A ``storage.Client`` stand-in whose every listing is refused with ``error``."""

    api_endpoint = "https://storage.googleapis.com"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def list_blobs(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            exceptions.Forbidden("x@y does not have storage.objects.list access"),
            "error: Cloud Storage refused: 403 x@y does not have storage.objects.list access "
            "(the identity needs roles/storage.objectAdmin on gs://b-1)",
        ),
        (
            exceptions.NotFound("The specified bucket does not exist."),
            "error: bucket gs://b-1 does not exist",
        ),
        (
            exceptions.Unauthorized("Invalid Credentials"),
            "error: the Google credentials were refused: 401 Invalid Credentials",
        ),
    ],
    ids=["403", "404", "401"],
)
def test_the_role_is_named_for_a_403_only(error: Exception, said: str) -> None:
    with pytest.raises(DeployError) as refused:
        deploy("b-1", planned_uploads(), _RefusingStorage(error), dry_run=False, emit=lambda line: None)
    assert f"error: {refused.value}".startswith(said)
    assert ("roles/storage.objectAdmin" in str(refused.value)) == isinstance(error, exceptions.Forbidden)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            exceptions.NotFound("Environment not found"),
            "Composer environment E does not exist (check --environment",
        ),
        (exceptions.PermissionDenied("denied"), "the identity needs composer.environments.get"),
        (
            exceptions.ServiceUnavailable("unreachable"),
            "cannot reach the Composer API for E: 503 unreachable",
        ),
        (
            exceptions.ServiceUnavailable("Getting metadata from plugin failed with error: invalid_grant"),
            "the Google credentials were refused: 503 Getting metadata from plugin failed",
        ),
    ],
    ids=["404", "403", "unreachable", "grpc-refresh-failed"],
)
def test_composer_api_refusals_are_explained(error: Exception, said: str) -> None:
    class Environments:
        def get_environment(self, name: str, **options: Any) -> Any:
            raise error

    with pytest.raises(DeployError, match=re.escape(said)):
        composer_dags_prefix("E", Environments())


@pytest.mark.parametrize(
    "name",
    [
        "My Bucket!!",
        "ab",
        "a" * 64,
        "-bucket",
        "bucket-",
        "Bucket",
        "192.168.5.4",
        "goog-bucket",
        "my-google-bucket",
        ("a" * 64) + ".example.com",
        ".".join(["a" * 60] * 4),  # 243 characters
    ],
)
def test_a_bucket_name_cloud_storage_refuses_is_refused_at_once(
    name: str, no_network: list[Any], emitted: Lines, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([f"--bucket={name}"], emit=emitted) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --bucket {name!r} is not a Cloud Storage bucket name: ")
    assert line.endswith("(https://cloud.google.com/storage/docs/buckets#naming)")
    assert (emitted.lines, no_network) == ([], [])


@pytest.mark.parametrize(
    "name",
    [BUCKET, "us-central1-orders-1a2b3c-bucket", "abc", "a" * 63, "example.com", "0-a_b.c-9", "gogle"],
)
def test_valid_bucket_names_pass(name: str) -> None:
    assert bucket_name_problem(name) is None


def test_a_setting_the_dag_needs_but_nobody_set_is_called_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_TRACKING_TRIGGER", "events")
    monkeypatch.delenv("ORDER_TRACKING_PUBSUB_PROJECT", raising=False)

    done = run_failing_command("deploy.composer", "--bucket", "my-bucket", "--dry-run")

    assert done.stderr.startswith(
        "error: the environment variable ORDER_TRACKING_PUBSUB_PROJECT is not set, and it is needed: "
    )

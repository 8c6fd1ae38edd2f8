"""``python -m deploy.composer`` into the GCS emulator's bucket (standing in for the Composer bucket)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from deploy import REPO, DeployError
from deploy.composer import (
    composer_dags_prefix,
    main,
    planned_uploads,
    provider_requirements,
    split_gcs_prefix,
)
from local_stack.gcs_emulator import GcsEmulator
from tests.conftest import BUCKET
from tests.deploy.conftest import Lines

PROVIDERS = [
    "apache-airflow-providers-google==22.8.0",
    "apache-airflow-providers-databricks==7.23.0",
    "apache-airflow-providers-smtp==3.2.0",
    "apache-airflow-providers-slack==9.11.1",
]


def _repo_files() -> dict[str, Path]:
    """The files a deploy must copy, found independently of the tool: ``{object name: local file}``."""
    found = {}
    for folder in ("dags", "plugins/order_tracking"):
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found[path.relative_to(REPO).as_posix()] = path
    return found


@pytest.fixture
def emulator_env(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """google-cloud-storage clients made by the tool talk to the emulator, anonymously."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)


def _objects(bucket: Any) -> dict[str, Any]:
    return {blob.name: blob for blob in bucket.client.list_blobs(bucket)}


def _upload_lines(bucket_name: str) -> list[str]:
    return [
        f"upload {name} -> gs://{bucket_name}/{name} ({path.stat().st_size} bytes)"
        for name, path in sorted(_repo_files().items())
    ]


def test_the_providers_to_install_are_read_from_requirements() -> None:
    assert provider_requirements() == PROVIDERS


def test_a_dry_run_lists_every_file_and_destination_and_makes_no_call(
    bucket: Any, emulator_env: None, no_network: list[Any], emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--bucket", BUCKET, "--dry-run"], emit=emitted) == 0

    assert emitted.lines == [
        *_upload_lines(BUCKET),
        f"delete-stale gs://{BUCKET}/plugins/order_tracking/* (objects not in the repo; "
        "a dry run does not list the bucket: add --list-remote)",
        *(f"requires {pin}" for pin in PROVIDERS),
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
    assert emitted.lines == [*_upload_lines(BUCKET), *(f"requires {pin}" for pin in PROVIDERS)]


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
        def get_environment(self, name: str) -> Any:
            asked.append(name)
            return SimpleNamespace(config=SimpleNamespace(dag_gcs_prefix=f"gs://{BUCKET}/dags"))

    monkeypatch.setattr(
        "deploy.composer.composer_dags_prefix", lambda name: composer_dags_prefix(name, Environments())
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
        def get_environment(self, name: str) -> Any:
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
        ("plugins/order_tracking/__init__.py", "plugins/order_tracking/__init__.py"),
        ("plugins/order_tracking/sub/x.py", "plugins/order_tracking/sub/x.py"),
    ]

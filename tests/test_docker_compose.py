"""The Docker Compose dev stack, checked as files.

No Docker engine runs here, so the stack is not started: instead ``docker-compose.yaml`` and
``docker/Dockerfile`` are parsed and their structure checked (services, image, published ports,
healthchecks, mounts, metadata database, the shared warehouse and the Airflow version).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
STACK_SERVICES = ("gcs-emulator", "databricks-runner")
ONE_SHOT_SERVICES = ("airflow-init",)
WAREHOUSE = "/opt/order-tracking/warehouse"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "docker" / "Dockerfile").read_text()


def pinned_airflow_version() -> str:
    match = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert match, "requirements.txt pins no apache-airflow version"
    return match.group(1)


def option(command: list[str], name: str) -> str:
    """The value of ``--name=value`` in a command list."""
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times in {command}"
    return values[0]


def test_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"postgres", *AIRFLOW_SERVICES, *STACK_SERVICES}


@pytest.mark.parametrize("name", AIRFLOW_SERVICES + STACK_SERVICES)
def test_service_uses_the_project_image(services: dict[str, dict[str, Any]], name: str) -> None:
    assert services[name]["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    assert services[name]["image"] == services["airflow-scheduler"]["image"]


def test_published_ports_are_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published = {name: service.get("ports", []) for name, service in services.items()}
    assert published["airflow-apiserver"] == ["127.0.0.1:8080:8080"]
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str), f"{name}: use the short 'host_ip:host:container' syntax"
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name not in ONE_SHOT_SERVICES:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_mount_dags_and_plugins(services: dict[str, dict[str, Any]], name: str) -> None:
    volumes = services[name]["volumes"]
    assert "./dags:/opt/airflow/dags" in volumes
    assert "./plugins:/opt/airflow/plugins" in volumes


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_postgres_is_the_metadata_database(services: dict[str, dict[str, Any]], name: str) -> None:
    environment = services[name]["environment"]
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert "@postgres/" in environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_runner_and_airflow_share_the_warehouse(services: dict[str, dict[str, Any]]) -> None:
    mount = f"warehouse:{WAREHOUSE}"
    runner = services["databricks-runner"]
    assert mount in runner["volumes"]
    assert option(runner["command"], "warehouse") == WAREHOUSE
    for name in AIRFLOW_SERVICES:
        assert mount in services[name]["volumes"], name
        assert services[name]["environment"]["ORDER_TRACKING_TABLES_ROOT"] == WAREHOUSE, name


def test_airflow_connections_point_at_the_stack(services: dict[str, dict[str, Any]]) -> None:
    runner_command = services["databricks-runner"]["command"]
    environment = services["airflow-scheduler"]["environment"]
    databricks = json.loads(environment["AIRFLOW_CONN_DATABRICKS_DEFAULT"])
    assert databricks["host"] == "databricks-runner"
    assert databricks["port"] == int(option(runner_command, "port"))
    assert databricks["password"] == option(runner_command, "token")
    gcs_url = f"http://gcs-emulator:{option(services['gcs-emulator']['command'], 'port')}"
    assert environment["STORAGE_EMULATOR_HOST"] == option(runner_command, "gcs-url") == gcs_url


def test_dockerfile_extends_airflow_and_installs_the_pins(dockerfile: str) -> None:
    instructions = [line for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    assert instructions[0] == "FROM apache/airflow:3.3.1-python3.11"
    assert re.search(r"pip install .*-r \S*requirements\.txt -c \S*constraints\.txt", dockerfile)
    assert "openjdk-17-jre-headless" in dockerfile


def test_airflow_version_matches_requirements(services: dict[str, dict[str, Any]], dockerfile: str) -> None:
    version = pinned_airflow_version()
    base = re.search(r"^FROM apache/airflow:(\S+?)-python", dockerfile, re.MULTILINE)
    assert base, "the Dockerfile does not extend apache/airflow"
    assert base.group(1) == version
    assert services["airflow-scheduler"]["image"].endswith(f":{version}")

"""``python -m deploy.pubsub_notifications``: the commands it prints and runs, its checks, its errors.

A real run is tested against a stand-in ``gcloud`` on ``PATH`` that records each call and answers as
the Google Cloud CLI does (``ALREADY_EXISTS`` for a second create, the notification list as JSON):
no Google project is reachable from here.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.pubsub_notifications import failure_reason, main
from tests.deploy.conftest import Lines, run_failing_command

MODULE = "deploy.pubsub_notifications"
P = "my-project"
TOPIC = f"projects/{P}/topics/order-tracking-staging-finalize"
SUBSCRIPTION = "order-tracking-staging-finalize-airflow"
SA = "orders@my-project.iam.gserviceaccount.com"
GCS_AGENT = "service-123456789@gs-project-accounts.iam.gserviceaccount.com"

COMMANDS = [
    f"run gcloud pubsub topics create order-tracking-staging-finalize --project={P}",
    "run gcloud storage buckets notifications list gs://tracking_orders --format=json",
    f"run gcloud storage buckets notifications create gs://tracking_orders --topic={TOPIC} "
    "--event-types=OBJECT_FINALIZE --object-prefix=staging_zn/ --payload-format=json",
    f"run gcloud pubsub subscriptions create {SUBSCRIPTION} --project={P} --topic={TOPIC} --ack-deadline=60 "
    "--message-retention-duration=7d --expiration-period=never",
    f"run gcloud storage service-agent --project={P}",
]


def _iam(agent: str, composer: str, note: str = "") -> list[str]:
    return [
        "iam gcloud pubsub topics add-iam-policy-binding order-tracking-staging-finalize "
        f"--project={P} --member=serviceAccount:{agent} --role=roles/pubsub.publisher  "
        "# Cloud Storage's service agent publishes the notifications "
        "(notifications create grants it if missing)",
        f"iam gcloud pubsub subscriptions add-iam-policy-binding {SUBSCRIPTION} --project={P} "
        f"--member=serviceAccount:{composer} --role=roles/pubsub.subscriber  "
        f"# the Composer environment's service account pulls and acknowledges{note}",
    ]


@pytest.fixture(autouse=True)
def dag_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DAG's own defaults for bucket and prefix, whatever the shell running the tests sets."""
    for name in ("BUCKET", "STAGING_PREFIX", "TRIGGER", "PUBSUB_PROJECT", "PUBSUB_SUBSCRIPTION"):
        monkeypatch.delenv(f"ORDER_TRACKING_{name}", raising=False)


def test_a_dry_run_prints_every_command_and_binding_and_runs_nothing(
    no_network: list[Any], emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no gcloud either

    assert main(["--project", P, "--composer-service-account", SA, "--dry-run"], emit=emitted) == 0

    assert emitted.lines == [
        *COMMANDS,
        *_iam("service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com", SA),
        "dry run: nothing was created; run the iam lines yourself",
    ]
    assert no_network == []


def test_without_the_composer_account_the_binding_says_how_to_find_it(emitted: Lines) -> None:
    assert main(["--project", P, "--dry-run"], emit=emitted) == 0

    [line] = [line for line in emitted.lines if "subscriptions add-iam-policy-binding" in line]
    assert "--member=serviceAccount:COMPOSER_SERVICE_ACCOUNT" in line
    assert "gcloud composer environments describe ENVIRONMENT --location=REGION" in line
    assert "config.nodeConfig.serviceAccount" in line


def test_bucket_and_prefix_follow_the_dags_settings(emitted: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_TRACKING_BUCKET", "orders-feed")
    monkeypatch.setenv("ORDER_TRACKING_STAGING_PREFIX", "in/zn/")

    assert main(["--project", P, "--dry-run"], emit=emitted) == 0

    [create] = [
        line for line in emitted.lines if line.startswith("run gcloud storage buckets notifications create")
    ]
    assert create.startswith("run gcloud storage buckets notifications create gs://orders-feed ")
    assert "--object-prefix=in/zn/ " in create


def test_project_and_subscription_follow_the_dags_settings(
    emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAG pulls ORDER_TRACKING_PUBSUB_PROJECT / _SUBSCRIPTION: what is set up is that."""
    monkeypatch.setenv("ORDER_TRACKING_TRIGGER", "events")
    monkeypatch.setenv("ORDER_TRACKING_PUBSUB_PROJECT", "feeds-prod")
    monkeypatch.setenv("ORDER_TRACKING_PUBSUB_SUBSCRIPTION", "orders-airflow")

    assert main(["--dry-run"], emit=emitted) == 0

    [create] = [line for line in emitted.lines if line.startswith("run gcloud pubsub subscriptions create")]
    assert create.startswith("run gcloud pubsub subscriptions create orders-airflow ")
    assert "--topic=projects/feeds-prod/topics/order-tracking-staging-finalize " in create


@pytest.mark.parametrize(
    ("variable", "value", "flag", "given"),
    [
        ("ORDER_TRACKING_PUBSUB_PROJECT", "other-project", "--project", P),
        ("ORDER_TRACKING_PUBSUB_SUBSCRIPTION", "my-sub", "--subscription", "order-tracking-sub"),
        ("ORDER_TRACKING_BUCKET", "prod-bucket", "--bucket", "gs://other-bucket"),
        ("ORDER_TRACKING_STAGING_PREFIX", "in/", "--prefix", "staging_zn/"),
    ],
)
def test_a_flag_that_contradicts_the_dags_setting_is_refused_naming_both(
    variable: str, value: str, flag: str, given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    args = ["--dry-run", flag, given] + ([] if flag == "--project" else ["--project", P])

    done = run_failing_command(MODULE, *args)

    shown = given.removeprefix("gs://")
    assert done.stderr.startswith(
        f"error: {flag} {shown!r} differs from {variable}={value!r}, which the DAG reads"
    )


def test_a_flag_that_agrees_with_the_dags_setting_is_fine(
    emitted: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDER_TRACKING_BUCKET", "prod-bucket")
    monkeypatch.setenv("ORDER_TRACKING_PUBSUB_PROJECT", P)
    assert main(["--dry-run", "--bucket", "gs://prod-bucket", "--project", P], emit=emitted) == 0
    assert any(
        line.startswith("run gcloud storage buckets notifications create gs://prod-bucket ")
        for line in emitted.lines
    )


def test_without_any_project_the_usage_error_names_the_flag_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDER_TRACKING_TRIGGER", "events")  # events without a project: still this error
    with pytest.raises(SystemExit) as exited:
        main(["--dry-run"])
    assert exited.value.code == 2
    assert (
        "--project is needed (or ORDER_TRACKING_PUBSUB_PROJECT, which the DAG reads)"
        in capsys.readouterr().err
    )


def test_flags_reach_the_commands(emitted: Lines) -> None:
    argv = [
        "--project",
        P,
        "--bucket",
        "gs://other-bucket/",
        "--prefix",
        "drops/",
        "--topic",
        "drops",
        "--subscription",
        "drops-airflow",
        "--ack-deadline",
        "120",
        "--retention",
        "12h",
        "--dead-letter-topic",
        "drops-dead",
        "--max-delivery-attempts",
        "10",
        "--dry-run",
    ]
    assert main(argv, emit=emitted) == 0

    assert emitted.lines[:5] == [
        f"run gcloud pubsub topics create drops --project={P}",
        f"run gcloud pubsub topics create drops-dead --project={P}",
        "run gcloud storage buckets notifications list gs://other-bucket --format=json",
        "run gcloud storage buckets notifications create gs://other-bucket "
        f"--topic=projects/{P}/topics/drops --event-types=OBJECT_FINALIZE --object-prefix=drops/ "
        "--payload-format=json",
        f"run gcloud pubsub subscriptions create drops-airflow --project={P} "
        f"--topic=projects/{P}/topics/drops --ack-deadline=120 --message-retention-duration=12h "
        "--expiration-period=never "
        f"--dead-letter-topic=projects/{P}/topics/drops-dead --max-delivery-attempts=10",
    ]
    pubsub_agent = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
    dead_letter = [line for line in emitted.lines if pubsub_agent in line]
    assert [line.split("  #")[0] for line in dead_letter] == [
        f"iam gcloud pubsub topics add-iam-policy-binding drops-dead --project={P} "
        f"--member={pubsub_agent} --role=roles/pubsub.publisher",
        f"iam gcloud pubsub subscriptions add-iam-policy-binding drops-airflow --project={P} "
        f"--member={pubsub_agent} --role=roles/pubsub.subscriber",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "My Project"], "--project 'My Project' is not a project ID"),
        (
            ["--project", P, "--bucket", "Bad_Bucket"],
            "--bucket 'Bad_Bucket' is not a Cloud Storage bucket name",
        ),
        (["--project", P, "--prefix", "staging_zn"], "--prefix must be a folder like 'staging_zn/'"),
        (["--project", P, "--prefix", "/staging_zn/"], "--prefix must be a folder like 'staging_zn/'"),
        *(
            (["--project", P, "--prefix", f"staging{glob}/"], "--prefix must not contain *?[]{}\\")
            for glob in "*?[]{}\\"
        ),
        (["--project", P, "--topic", "google-topic"], "--topic 'google-topic' is not a Pub/Sub ID"),
        (["--project", P, "--subscription", "9lives"], "--subscription '9lives' is not a Pub/Sub ID"),
        (["--project", P, "--ack-deadline", "5"], "--ack-deadline is 10 to 600 seconds, not 5"),
        (["--project", P, "--retention", "8 days"], "--retention is 10 minutes to 31 days"),
        (["--project", P, "--retention", "32d"], "--retention is 10 minutes to 31 days"),
        (
            ["--project", P, "--dead-letter-topic", "dl", "--max-delivery-attempts", "3"],
            "is not a Pub/Sub ID",
        ),
        (
            ["--project", P, "--dead-letter-topic", "dead", "--max-delivery-attempts", "3"],
            "is 5 to 100, not 3",
        ),
        (["--project", P, "--composer-service-account", "orders"], "takes a service account's email"),
    ],
)
def test_a_value_gcp_would_refuse_is_one_error_line(args: list[str], message: str) -> None:
    done = run_failing_command(MODULE, *args, "--dry-run")

    assert done.stderr.startswith("error: ")
    assert message in done.stderr


def test_a_bad_dag_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_TRACKING_STAGING_PREFIX", "staging_zn")

    done = run_failing_command(MODULE, "--project", P, "--dry-run")

    assert "ORDER_TRACKING_STAGING_PREFIX='staging_zn'" in done.stderr


def test_max_delivery_attempts_without_a_dead_letter_topic_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["--project", P, "--max-delivery-attempts", "7", "--dry-run"])

    assert usage.value.code == 2
    assert "--max-delivery-attempts needs --dead-letter-topic" in capsys.readouterr().err


def test_a_real_run_without_gcloud_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the tool runs as sys.executable: only gcloud is missing

    done = run_failing_command(MODULE, "--project", P)

    assert "gcloud is not installed" in done.stderr
    assert "google-cloud-cli" in done.stderr


# --- a real run, against a stand-in gcloud ---------------------------------------------------------

FAKE_GCLOUD = """#!{python}
import json, os, pathlib, sys
state = pathlib.Path(os.environ["FAKE_GCLOUD_STATE"])
args = sys.argv[1:]
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps(args) + "\\n")
fail = os.environ.get("FAKE_GCLOUD_FAIL", "")
if fail and " ".join(args).startswith(fail):
    sys.stderr.write("WARNING: something\\nERROR: (gcloud.pubsub.topics.create) PERMISSION_DENIED: denied\\n"
                     "- '@type': type.googleapis.com/google.rpc.ErrorInfo\\n"
                     "  reason: IAM_PERMISSION_DENIED\\n")
    sys.exit(1)
key = " ".join(a for a in args if not a.startswith("--"))
if args[:3] in (["pubsub", "topics", "create"], ["pubsub", "subscriptions", "create"]):
    marker = state / key.replace("/", "_")
    if marker.exists():
        sys.stderr.write(f"ERROR: Failed to create [{{args[3]}}]: already exists (ALREADY_EXISTS)\\n")
        sys.exit(1)
    marker.touch()
elif args[:4] == ["storage", "buckets", "notifications", "create"]:
    saved = state / "notifications.json"
    configs = json.loads(saved.read_text()) if saved.exists() else []
    flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
    configs.append({{"kind": "storage#notification", "id": str(len(configs) + 1),
                    "topic": "//pubsub.googleapis.com/" + flags["topic"],
                    "event_types": [flags["event-types"]],
                    "object_name_prefix": flags["object-prefix"], "payload_format": "JSON_API_V1"}})
    (state / "notifications.json").write_text(json.dumps(configs))
elif args[:4] == ["storage", "buckets", "notifications", "list"]:
    path = state / "notifications.json"
    print(path.read_text() if path.exists() else "[]")
elif args[:2] == ["storage", "service-agent"]:
    print("{agent}")
"""


@pytest.fixture
def fake_gcloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``gcloud`` first on PATH; returns its state folder (``calls.jsonl``: one call a line)."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(FAKE_GCLOUD.format(python=sys.executable, agent=GCS_AGENT))
    gcloud.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GCLOUD_STATE", str(state))
    return state


def _calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def test_a_real_run_runs_what_the_dry_run_prints(fake_gcloud: Path, emitted: Lines) -> None:
    assert main(["--project", P, "--composer-service-account", SA], emit=emitted) == 0

    assert emitted.lines == [
        *COMMANDS,
        *_iam(GCS_AGENT, SA),
        "done: run the iam lines yourself (or check they are in place)",
    ]
    ran = [" ".join(["run", "gcloud", *call]) for call in _calls(fake_gcloud)]
    assert ran == [f"{command} --quiet" for command in COMMANDS]


def test_running_it_again_creates_nothing_twice(fake_gcloud: Path, emitted: Lines) -> None:
    assert main(["--project", P], emit=Lines()) == 0

    assert main(["--project", P], emit=emitted) == 0

    assert f"exists {TOPIC} (kept as it is)" in emitted.lines
    assert f"exists projects/{P}/subscriptions/{SUBSCRIPTION} (kept as it is)" in emitted.lines
    assert (
        f"exists notification gs://tracking_orders/staging_zn/ -> {TOPIC} (not created twice)"
        in emitted.lines
    )
    creates = [
        call for call in _calls(fake_gcloud) if call[:4] == ["storage", "buckets", "notifications", "create"]
    ]
    assert len(creates) == 1
    assert len(json.loads((fake_gcloud / "notifications.json").read_text())) == 1


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            "WARNING: w\nERROR: (gcloud.x) NOT_FOUND: gone\nTo fix, run:\n  gcloud auth login\n",
            "ERROR: (gcloud.x) NOT_FOUND: gone",
        ),
        ("ERROR: first\nERROR: second\n", "ERROR: first"),
        ("Traceback (most recent call last):\n  ...\nOSError: boom\n", "OSError: boom"),
        ("\n  \n", "exit status 2"),
    ],
)
def test_the_reason_of_a_failed_gcloud_is_its_error_line(stderr: str, reason: str) -> None:
    assert failure_reason(stderr, 2) == reason


def test_a_failing_gcloud_command_is_one_error_line_with_its_reason(
    fake_gcloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_GCLOUD_FAIL", "pubsub topics create")

    done = run_failing_command(MODULE, "--project", P)

    assert done.stderr == (
        f"error: gcloud pubsub topics create order-tracking-staging-finalize --project={P} failed: "
        "ERROR: (gcloud.pubsub.topics.create) PERMISSION_DENIED: denied\n"
    )
    assert len(_calls(fake_gcloud)) == 1  # nothing after the failure

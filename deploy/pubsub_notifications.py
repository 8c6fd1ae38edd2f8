"""Set up the event-driven start in production: topic, bucket notification, subscription, their IAM.

    python -m deploy.pubsub_notifications --project P [--bucket B] [--prefix staging_zn/]
        [--topic T] [--subscription S] [--ack-deadline SECONDS] [--retention DURATION]
        [--dead-letter-topic D [--max-delivery-attempts N]] [--composer-service-account EMAIL]
        [--dry-run] [--timeout SECONDS]

Runs, with the Google Cloud CLI (``gcloud``, authenticated as someone who may create topics,
subscriptions and bucket notifications), one command a line::

    run gcloud pubsub topics create T --project=P
    run gcloud storage buckets notifications list gs://B --format=json
    run gcloud storage buckets notifications create gs://B --topic=projects/P/topics/T
        --event-types=OBJECT_FINALIZE --object-prefix=staging_zn/ --payload-format=json
    run gcloud pubsub subscriptions create S --project=P --topic=projects/P/topics/T
        --ack-deadline=60 --message-retention-duration=7d --expiration-period=never
    run gcloud storage service-agent --project=P

(each printed on one line), then prints the IAM bindings the pieces need, as ``iam`` lines holding
the ``gcloud ... add-iam-policy-binding`` command, without running them:

- the project's **Cloud Storage service agent** publishes to the topic (``roles/pubsub.publisher``;
  ``notifications create`` checks this and grants it when the caller may);
- the **Composer environment's service account** pulls and acknowledges on the subscription
  (``roles/pubsub.subscriber``): the Airflow side's Pub/Sub trigger;
- with ``--dead-letter-topic``, the project's **Pub/Sub service agent** publishes to the
  dead-letter topic and subscribes to the subscription (what Pub/Sub needs to forward a message
  after ``--max-delivery-attempts``).

The bucket and prefix default to the DAG's own settings (``ORDER_TRACKING_BUCKET``,
``ORDER_TRACKING_STAGING_PREFIX``, else ``tracking_orders`` and ``staging_zn/``): the notification
filters on ``object_name_prefix``, a plain prefix, so objects in sub-folders of the staging prefix
notify too (the DAG still cuts its batch from a listing, so such a message only wakes it).
Running it again changes nothing: a topic or subscription that exists is reported (``exists ...``)
and kept, and a notification configuration with the same topic, prefix, event type and payload is
not created twice (a second one would send every message twice).

``--dry-run`` prints every command and binding and runs nothing (no ``gcloud`` needed). A refusal
ends with one ``error: ...`` line on stderr and exit status 1: a value Cloud Storage or Pub/Sub
would refuse (named), no ``gcloud``, or the first ``gcloud`` command that fails (its last error
line). Each ``gcloud`` call gets ``--timeout`` seconds (default 120).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from deploy import (
    DeployError,
    bucket_name_problem,
    pipeline_config,
    staging_prefix_problem,
    timeout_seconds,
)

Emit = Callable[[str], None]
DEFAULT_TOPIC = "order-tracking-staging-finalize"
DEFAULT_SUBSCRIPTION = "order-tracking-staging-finalize-airflow"
DEFAULT_ACK_DEADLINE = 60
DEFAULT_RETENTION = "7d"
DEFAULT_MAX_DELIVERY_ATTEMPTS = 5
DEFAULT_TIMEOUT_SECONDS = 120
GCS_AGENT_PLACEHOLDER = "service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com"
PUBSUB_AGENT = "service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
COMPOSER_PLACEHOLDER = "COMPOSER_SERVICE_ACCOUNT"
# https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names (topic and subscription IDs)
_RESOURCE_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")
# https://cloud.google.com/resource-manager/docs/creating-managing-projects (project IDs)
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ALREADY_EXISTS = ("ALREADY_EXISTS", "already exists")


@dataclass(frozen=True)
class Plan:
    """What to set up; every value checked by :func:`check` before anything runs."""

    project: str
    bucket: str
    prefix: str
    topic: str
    subscription: str
    ack_deadline: int = DEFAULT_ACK_DEADLINE
    retention: str = DEFAULT_RETENTION
    dead_letter_topic: str | None = None
    max_delivery_attempts: int = DEFAULT_MAX_DELIVERY_ATTEMPTS
    composer_service_account: str | None = None

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscription}"

    @property
    def dead_letter_path(self) -> str | None:
        return f"projects/{self.project}/topics/{self.dead_letter_topic}" if self.dead_letter_topic else None


def check(plan: Plan) -> None:
    """Refuse, naming the flag, a value Cloud Storage or Pub/Sub would refuse (:class:`DeployError`)."""
    if not _PROJECT_ID.fullmatch(plan.project):
        raise DeployError(
            f"--project {plan.project!r} is not a project ID (6 to 30 lowercase letters, digits or "
            "hyphens, starting with a letter; the ID, not the display name or number)"
        )
    problem = bucket_name_problem(plan.bucket)
    if problem:
        raise DeployError(f"--bucket {plan.bucket!r} is not a Cloud Storage bucket name: {problem}")
    if problem := staging_prefix_problem(plan.prefix):  # the DAG's own rule for its staging prefix
        raise DeployError(f"--prefix {problem}")
    named = [("--topic", plan.topic), ("--subscription", plan.subscription)]
    if plan.dead_letter_topic is not None:
        named.append(("--dead-letter-topic", plan.dead_letter_topic))
    for flag, value in named:
        if not _RESOURCE_ID.fullmatch(value) or value.lower().startswith("goog"):
            raise DeployError(
                f"{flag} {value!r} is not a Pub/Sub ID (3 to 255 characters: letters, digits, - _ . ~ + %, "
                "starting with a letter, not with 'goog')"
            )
    if plan.dead_letter_topic == plan.topic:
        raise DeployError("--dead-letter-topic must differ from --topic")
    if not 10 <= plan.ack_deadline <= 600:
        raise DeployError(f"--ack-deadline is 10 to 600 seconds, not {plan.ack_deadline}")
    duration = _DURATION.fullmatch(plan.retention)
    seconds = int(duration.group(1)) * _SECONDS[duration.group(2)] if duration else 0
    if not 600 <= seconds <= 31 * 86400:
        raise DeployError(
            f"--retention is 10 minutes to 31 days, written like 7d, 12h or 30m, not {plan.retention!r}"
        )
    if not 5 <= plan.max_delivery_attempts <= 100:
        raise DeployError(f"--max-delivery-attempts is 5 to 100, not {plan.max_delivery_attempts}")
    account = plan.composer_service_account
    if account is not None and not _EMAIL.fullmatch(account):
        raise DeployError(f"--composer-service-account takes a service account's email, not {account!r}")


def topic_create(plan: Plan, topic: str) -> list[str]:
    return ["gcloud", "pubsub", "topics", "create", topic, f"--project={plan.project}"]


def notifications_list(plan: Plan) -> list[str]:
    return ["gcloud", "storage", "buckets", "notifications", "list", f"gs://{plan.bucket}", "--format=json"]


def notification_create(plan: Plan) -> list[str]:
    return [
        "gcloud",
        "storage",
        "buckets",
        "notifications",
        "create",
        f"gs://{plan.bucket}",
        f"--topic={plan.topic_path}",
        "--event-types=OBJECT_FINALIZE",
        f"--object-prefix={plan.prefix}",
        "--payload-format=json",
    ]


def subscription_create(plan: Plan) -> list[str]:
    command = [
        "gcloud",
        "pubsub",
        "subscriptions",
        "create",
        plan.subscription,
        f"--project={plan.project}",
        f"--topic={plan.topic_path}",
        f"--ack-deadline={plan.ack_deadline}",
        f"--message-retention-duration={plan.retention}",
        "--expiration-period=never",
    ]
    if plan.dead_letter_path:
        command += [
            f"--dead-letter-topic={plan.dead_letter_path}",
            f"--max-delivery-attempts={plan.max_delivery_attempts}",
        ]
    return command


def service_agent(plan: Plan) -> list[str]:
    return ["gcloud", "storage", "service-agent", f"--project={plan.project}"]


def iam_bindings(plan: Plan, gcs_agent: str) -> list[tuple[list[str], str]]:
    """``(gcloud command, why)`` for each binding the setup needs; ``gcs_agent`` is the Cloud Storage
    service agent's email."""
    composer = plan.composer_service_account or COMPOSER_PLACEHOLDER
    bindings = [
        (
            _binding("topics", plan.topic, plan.project, gcs_agent, "roles/pubsub.publisher"),
            "Cloud Storage's service agent publishes the notifications "
            "(notifications create grants it if missing)",
        ),
        (
            _binding("subscriptions", plan.subscription, plan.project, composer, "roles/pubsub.subscriber"),
            "the Composer environment's service account pulls and acknowledges"
            + (
                ""
                if plan.composer_service_account
                else " (its email: gcloud composer environments describe ENVIRONMENT --location=REGION "
                "--format='value(config.nodeConfig.serviceAccount)')"
            ),
        ),
    ]
    if plan.dead_letter_topic:
        why = (
            "Pub/Sub's service agent forwards undeliverable messages "
            f"(PROJECT_NUMBER: gcloud projects describe {plan.project} --format='value(projectNumber)')"
        )
        bindings += [
            (
                _binding(
                    "topics", plan.dead_letter_topic, plan.project, PUBSUB_AGENT, "roles/pubsub.publisher"
                ),
                why,
            ),
            (
                _binding(
                    "subscriptions", plan.subscription, plan.project, PUBSUB_AGENT, "roles/pubsub.subscriber"
                ),
                why,
            ),
        ]
    return bindings


def _binding(kind: str, name: str, project: str, member: str, role: str) -> list[str]:
    return [
        "gcloud",
        "pubsub",
        kind,
        "add-iam-policy-binding",
        name,
        f"--project={project}",
        f"--member=serviceAccount:{member}",
        f"--role={role}",
    ]


def line(command: Sequence[str]) -> str:
    """A command as one shell-quoted line (what a user can paste)."""
    return shlex.join(command)


class Gcloud:
    """Runs ``gcloud`` commands, each bounded by ``timeout`` seconds; a failure is a :class:`DeployError`."""

    def __init__(self, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> None:
        if shutil.which("gcloud") is None:
            raise DeployError(
                "gcloud is not installed: install the Google Cloud CLI (apt-get install google-cloud-cli), "
                "then gcloud auth login"
            )
        self.timeout = timeout

    def __call__(self, command: Sequence[str], *, exists_ok: bool = False) -> str | None:
        """``command``'s stdout; ``None`` if it failed because the resource exists and ``exists_ok``."""
        try:
            done = subprocess.run(
                [*command, "--quiet"],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as error:
            raise DeployError(
                f"{line(command)} gave no answer in {self.timeout} s (see --timeout)"
            ) from error
        if done.returncode == 0:
            return done.stdout
        if exists_ok and any(marker in done.stderr for marker in _ALREADY_EXISTS):
            return None
        raise DeployError(f"{line(command)} failed: {failure_reason(done.stderr, done.returncode)}")


def failure_reason(stderr: str, returncode: int) -> str:
    """The line of a failed gcloud's stderr that says why: its first ``ERROR:`` line (gcloud may
    follow it with hints or details, and precede it with ``WARNING:`` lines), else its last line,
    else the exit status."""
    lines = [text.strip() for text in stderr.splitlines() if text.strip()]
    errors = [text for text in lines if text.startswith("ERROR:")]
    if errors:
        return errors[0]
    return lines[-1] if lines else f"exit status {returncode}"


def _same_notification(plan: Plan, configs: object) -> bool:
    """Whether ``configs`` (``notifications list --format=json``) already holds this plan's configuration."""
    if not isinstance(configs, list):
        return False
    for config in configs:
        if not isinstance(config, dict):
            continue
        topic = str(config.get("topic", "")).removeprefix("//pubsub.googleapis.com/")
        if (
            topic == plan.topic_path
            and config.get("object_name_prefix") == plan.prefix
            and config.get("event_types") == ["OBJECT_FINALIZE"]
            and config.get("payload_format") == "JSON_API_V1"
        ):
            return True
    return False


def set_up(plan: Plan, *, dry_run: bool, emit: Emit = print, gcloud: Gcloud | None = None) -> None:
    """Create what :data:`plan` names (or print it, ``dry_run``), then print the IAM bindings.

    Raises :class:`DeployError` (see :class:`Gcloud`).
    """
    run = None if dry_run else (gcloud or Gcloud())

    def create(command: list[str], what: str) -> None:
        emit(f"run {line(command)}")
        if run is not None and run(command, exists_ok=True) is None:
            emit(f"exists {what} (kept as it is)")

    create(topic_create(plan, plan.topic), plan.topic_path)
    if plan.dead_letter_topic and plan.dead_letter_path:
        create(topic_create(plan, plan.dead_letter_topic), plan.dead_letter_path)
    emit(f"run {line(notifications_list(plan))}")
    listed = run(notifications_list(plan)) if run is not None else None
    if listed is not None and _same_notification(plan, json.loads(listed or "[]")):
        emit(f"exists notification gs://{plan.bucket}/{plan.prefix} -> {plan.topic_path} (not created twice)")
    else:
        emit(f"run {line(notification_create(plan))}")
        if run is not None:
            run(notification_create(plan))
    create(subscription_create(plan), plan.subscription_path)
    emit(f"run {line(service_agent(plan))}")
    gcs_agent = GCS_AGENT_PLACEHOLDER
    if run is not None:
        found = re.search(
            r"\S+@gs-project-accounts\.iam\.gserviceaccount\.com", run(service_agent(plan)) or ""
        )
        gcs_agent = found.group() if found else gcs_agent
    for command, why in iam_bindings(plan, gcs_agent):
        emit(f"iam {line(command)}  # {why}")
    emit(
        "dry run: nothing was created; run the iam lines yourself"
        if dry_run
        else "done: run the iam lines yourself (or check they are in place)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.pubsub_notifications",
        description="Create the Pub/Sub topic, the bucket's OBJECT_FINALIZE notification and the Airflow "
        "subscription of the event-driven start; print the IAM bindings they need.",
    )
    parser.add_argument(
        "--project",
        help="the Google Cloud project ID of the topic and subscription (default: "
        "ORDER_TRACKING_PUBSUB_PROJECT, which the DAG reads)",
    )
    parser.add_argument(
        "--bucket", help="the feed's bucket (default: ORDER_TRACKING_BUCKET, else the DAG's default)"
    )
    parser.add_argument(
        "--prefix", help="the staging prefix (default: ORDER_TRACKING_STAGING_PREFIX, else staging_zn/)"
    )
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help=f"topic ID (default {DEFAULT_TOPIC})")
    parser.add_argument(
        "--subscription",
        help=f"subscription ID (default: ORDER_TRACKING_PUBSUB_SUBSCRIPTION, else {DEFAULT_SUBSCRIPTION})",
    )
    parser.add_argument(
        "--ack-deadline", type=int, default=DEFAULT_ACK_DEADLINE, help="seconds, 10 to 600 (default 60)"
    )
    parser.add_argument(
        "--retention", default=DEFAULT_RETENTION, help="unacknowledged messages kept, e.g. 7d"
    )
    parser.add_argument("--dead-letter-topic", help="forward a message here after --max-delivery-attempts")
    parser.add_argument("--max-delivery-attempts", type=int, default=DEFAULT_MAX_DELIVERY_ATTEMPTS)
    parser.add_argument("--composer-service-account", help="the Composer environment's service account email")
    parser.add_argument("--dry-run", action="store_true", help="print every command; run none")
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds each gcloud command may take (default {DEFAULT_TIMEOUT_SECONDS})",
    )
    return parser


def agree_with_the_dag(flags: Mapping[str, tuple[str, str | None]]) -> None:
    """Refuse a flag whose value differs from the ``ORDER_TRACKING_*`` variable the shell sets for
    the same thing: the DAG reads the variable, so the notification or subscription this run would
    set up is not the one the DAG listens to (it would then start only on its safety schedule).

    ``flags``: ``{variable: (flag, value or None)}``. Raises :class:`DeployError` naming both.
    """
    for variable, (flag, value) in flags.items():
        shell = os.environ.get(variable)
        if value is not None and shell is not None and shell != value:
            raise DeployError(
                f"{flag} {value!r} differs from {variable}={shell!r}, which the DAG reads: it would "
                f"not use what this sets up. Give one of them, or make them agree"
            )


def main(argv: Sequence[str] | None = None, emit: Emit = print) -> int:
    """Run the command; return its exit status (0 done, 1 refused: the reason is on stderr, 2 usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.max_delivery_attempts != DEFAULT_MAX_DELIVERY_ATTEMPTS and not args.dead_letter_topic:
        parser.error("--max-delivery-attempts needs --dead-letter-topic")
    try:
        bucket = None if args.bucket is None else args.bucket.removeprefix("gs://").rstrip("/")
        flags = {  # the DAG's variable: this run's flag and its value (None: not given)
            "ORDER_TRACKING_BUCKET": ("--bucket", bucket),
            "ORDER_TRACKING_STAGING_PREFIX": ("--prefix", args.prefix),
            "ORDER_TRACKING_PUBSUB_PROJECT": ("--project", args.project),
            "ORDER_TRACKING_PUBSUB_SUBSCRIPTION": ("--subscription", args.subscription),
        }
        agree_with_the_dag(flags)
        # The DAG's settings as the shell gives them, for what no flag gives. Read as in schedule
        # mode: that events mode needs a project is this tool's check below, naming --project too.
        config = pipeline_config({"ORDER_TRACKING_TRIGGER": "schedule"})
        project = args.project if args.project is not None else config.pubsub_project
        if not project:
            parser.error("--project is needed (or ORDER_TRACKING_PUBSUB_PROJECT, which the DAG reads)")
        plan = Plan(
            project=project,
            bucket=bucket if bucket is not None else config.bucket,
            prefix=args.prefix if args.prefix is not None else config.staging_prefix,
            topic=args.topic,
            subscription=args.subscription if args.subscription is not None else config.pubsub_subscription,
            ack_deadline=args.ack_deadline,
            retention=args.retention,
            dead_letter_topic=args.dead_letter_topic,
            max_delivery_attempts=args.max_delivery_attempts,
            composer_service_account=args.composer_service_account,
        )
        check(plan)
        set_up(plan, dry_run=args.dry_run, emit=emit, gcloud=None if args.dry_run else Gcloud(args.timeout))
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

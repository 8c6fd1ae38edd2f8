"""Start and stop Google's official Pub/Sub emulator on 127.0.0.1, for the local stack and the tests.

::

    with PubSubEmulator() as emulator:
        emulator.host                 # "127.0.0.1:<free port>"
        emulator.env                  # {"PUBSUB_EMULATOR_HOST": ..., "PUBSUB_PROJECT_ID": ...}
        publisher, subscriber = emulator.clients()

The emulator is the Java server of the Debian package ``google-cloud-cli-pubsub-emulator``
(``<Cloud SDK>/platform/pubsub-emulator``). It is run through its own launcher
(``bin/cloud-pubsub-emulator --host=127.0.0.1 --port=N``) rather than ``gcloud beta emulators
pubsub start --host-port=127.0.0.1:N``: the same server, but without gcloud's Python wrapper in
front of it, so it answers sooner (measured on this 2-core machine under load: launcher + C1-only
JIT median about 6 s, gcloud about 9 s, first answer to ``ListTopics``) and its process tree is one
JVM. It listens on 127.0.0.1 only. Readiness is the official ``google-cloud-pubsub`` client's
first answer (``ListTopics`` on the project), not a sleep; any client reaches it with
``PUBSUB_EMULATOR_HOST`` (:attr:`PubSubEmulator.env`), or with :meth:`PubSubEmulator.clients`.

Stopping ends the whole process tree (``local_stack.processes``: SIGTERM, then SIGKILL after the
grace), so nothing is left behind. If the emulator or Java is missing, :meth:`PubSubEmulator.start`
fails at once with :class:`EmulatorMissingError`, one line naming the package and the command that
installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from local_stack.airflow_env import free_port
from local_stack.polling import PollTimeoutError, poll
from local_stack.processes import end_processes, process_tree

PACKAGE = "google-cloud-cli-pubsub-emulator"
INSTALL_HINT = f"apt-get install {PACKAGE} (or: gcloud components install pubsub-emulator)"
DEFAULT_SDK_ROOT = Path("/usr/lib/google-cloud-sdk")
LAUNCHER = Path("platform/pubsub-emulator/bin/cloud-pubsub-emulator")
# A short-lived local JVM: C1-only JIT and the serial collector start it sooner (as for Spark here).
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class EmulatorMissingError(RuntimeError):
    """The emulator (or the Java it runs on) is not installed; the message says how to install it."""


class EmulatorStartError(RuntimeError):
    """The emulator exited or did not answer in time; the message carries its log tail."""


def sdk_root() -> Path:
    """The Cloud SDK the ``gcloud`` on ``PATH`` belongs to (``/usr/lib/google-cloud-sdk`` without one)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return DEFAULT_SDK_ROOT
    return Path(os.path.realpath(gcloud)).parent.parent


def find_launcher(root: Path | None = None) -> Path:
    """The emulator's launcher script under ``root`` (default :func:`sdk_root`).

    Raises:
        EmulatorMissingError: it is not there, or there is no ``java`` to run it.
    """
    launcher = (root or sdk_root()) / LAUNCHER
    if not launcher.is_file():
        raise EmulatorMissingError(
            f"the Pub/Sub emulator is not installed ({launcher} is missing): install the package "
            f"{PACKAGE}: {INSTALL_HINT}"
        )
    if shutil.which("java") is None:
        raise EmulatorMissingError(
            "the Pub/Sub emulator needs Java 17+, and there is no java on PATH: "
            "apt-get install openjdk-17-jre-headless"
        )
    return launcher


def emulator_clients(host: str) -> tuple[Any, Any]:
    """``(PublisherClient, SubscriberClient)`` of ``google-cloud-pubsub`` on the emulator at ``host``.

    The same plain-text gRPC channel ``PUBSUB_EMULATOR_HOST`` gives a client, made explicitly so
    that this process's environment is left alone.
    """
    import grpc
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    publisher = PublisherClient(transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host)))
    subscriber = SubscriberClient(transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host)))
    return publisher, subscriber


def _tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"


class PubSubEmulator:
    """The official Pub/Sub emulator on ``127.0.0.1:port`` (a free port unless given).

    ``project``: the project id clients use (the emulator accepts any; this one goes in
    :attr:`env`). ``log_dir``: where ``pubsub-emulator.log`` goes (default: a temporary folder,
    removed on stop). ``sdk``: the Cloud SDK root holding ``platform/pubsub-emulator``.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        project: str = "local",
        log_dir: Path | None = None,
        sdk: Path | None = None,
        start_timeout: float = 90,
    ) -> None:
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.project = project
        self.start_timeout = start_timeout
        self._sdk = sdk
        self._log_dir = log_dir
        self._own_log_dir: Path | None = None
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # launch to first answer, set by start()

    @property
    def env(self) -> dict[str, str]:
        """What a client (or a process such as Airflow) needs to use this emulator."""
        return {"PUBSUB_EMULATOR_HOST": self.host, "PUBSUB_PROJECT_ID": self.project}

    @property
    def log_path(self) -> Path:
        folder = self._log_dir or self._own_log_dir or Path(tempfile.gettempdir())
        return folder / "pubsub-emulator.log"

    def clients(self) -> tuple[Any, Any]:
        """``(PublisherClient, SubscriberClient)`` on this emulator (:func:`emulator_clients`)."""
        return emulator_clients(self.host)

    def start(self) -> PubSubEmulator:
        """Launch the emulator and wait until the official client gets an answer from it.

        Raises:
            EmulatorMissingError: the emulator or Java is not installed (nothing is started).
            EmulatorStartError: it exited, or did not answer within ``start_timeout`` seconds
                (it is stopped again).
        """
        import time

        launcher = find_launcher(self._sdk)
        if self._log_dir is None:
            self._own_log_dir = Path(tempfile.mkdtemp(prefix="pubsub-emulator-"))
        else:
            self._log_dir.mkdir(parents=True, exist_ok=True)
        env: Mapping[str, str] = os.environ | {"CLOUD_PUBSUB_EMULATOR_OPTS": JVM_OPTIONS}
        self._log = self.log_path.open("wb")
        began = time.monotonic()
        # A session of its own: the stop can then find the JVM even if the launcher changes.
        self.process = subprocess.Popen(
            [str(launcher), "--host=127.0.0.1", f"--port={self.port}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _wait_ready(self) -> None:
        from google.api_core import exceptions

        publisher, _ = self.clients()
        process = self.process
        assert process is not None

        def answers() -> bool:
            if process.poll() is not None:
                raise EmulatorStartError(
                    f"the Pub/Sub emulator exited with status {process.returncode} before answering; "
                    f"its log ({self.log_path}):\n{_tail(self.log_path)}"
                )
            request = {"project": f"projects/{self.project}"}
            list(publisher.list_topics(request=request, retry=None, timeout=2))
            return True

        try:
            poll(
                answers,
                timeout=self.start_timeout,
                interval=0.1,
                what=f"the Pub/Sub emulator on {self.host}",
                retry_on=(exceptions.ServiceUnavailable, exceptions.DeadlineExceeded),
            )
        except PollTimeoutError as error:
            raise EmulatorStartError(f"{error}; its log ({self.log_path}):\n{_tail(self.log_path)}") from None
        finally:
            publisher.transport.close()

    def stop(self, grace: float = 5) -> None:
        """End the emulator's process tree (SIGTERM, SIGKILL after ``grace`` seconds); idempotent."""
        process, self.process = self.process, None
        if process is not None:
            end_processes(process_tree(process.pid), grace)
            process.wait(timeout=5)  # reap it: no zombie left for the caller to see
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_log_dir is not None:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
            self._own_log_dir = None

    def __enter__(self) -> PubSubEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    """``python -m local_stack.pubsub_emulator [--port N]``: run it until Ctrl-C (prints its env)."""
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(description="Run the official Pub/Sub emulator on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8085)
    args = parser.parse_args()
    try:
        emulator = PubSubEmulator(args.port).start()
    except EmulatorMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    try:
        print(f"Pub/Sub emulator ready in {emulator.start_seconds:.1f} s: export {emulator.env}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()

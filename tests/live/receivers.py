"""Alert receivers inside the pytest process: an SMTP server (``aiosmtpd``) and a Slack-webhook-shaped
HTTP server (``pytest-httpserver``).

The live Airflow's ``smtp_default`` and ``slack_default`` connections point at them (loopback
only), so a test sees exactly what the providers' notifiers sent, and waits for it with a deadline
instead of sleeping.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Generic, TypeVar

from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from local_stack.airflow_env import free_port

T = TypeVar("T")


class _Collected(Generic[T]):
    """Thread-safe list of received items with a polling-free wait."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = threading.Condition()

    def add(self, item: T) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    @property
    def items(self) -> list[T]:
        with self._changed:
            return list(self._items)

    def clear(self) -> None:
        with self._changed:
            self._items.clear()

    def wait_for(self, match: Callable[[T], bool], timeout: float, what: str) -> T:
        """The first item (already received or arriving within ``timeout`` s) that ``match``es."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for item in self._items:
                    if match(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {what} matched within {timeout:.0f} s; received {len(self._items)}: "
                        + "; ".join(repr(i) for i in self._items)[:3000]
                    )
                self._changed.wait(left)


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def body(self) -> str:
        """The text (or else HTML) body, decoded (notifiers send it base64-encoded)."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return "" if part is None else str(part.get_content())

    def __repr__(self) -> str:
        return f"<mail to {list(self.rcpt_tos)} subject {self.subject!r}>"


class SmtpInbox(_Collected[ReceivedMail]):
    """An ``aiosmtpd`` server on 127.0.0.1 keeping every message it accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller = Controller(self, hostname=self.host, port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.add(ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def start(self) -> SmtpInbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def connection(self, from_email: str = "airflow@example.test") -> dict[str, Any]:
        """``AIRFLOW_CONN_SMTP_DEFAULT`` for this server: plain SMTP (no SSL, no STARTTLS), one try."""
        return {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": from_email,
                "timeout": 10,
                "retry_limit": 1,
            },
        }

    def wait_for_mail(self, match: Callable[[ReceivedMail], bool], timeout: float = 60) -> ReceivedMail:
        return self.wait_for(match, timeout, "mail")


@dataclass(frozen=True)
class SlackPost:
    path: str
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The message text, or the blocks' JSON when the notifier sent blocks only."""
        try:
            payload = self.json
        except ValueError:
            return self.body
        return str(payload.get("text") or json.dumps(payload.get("blocks", payload)))

    def __repr__(self) -> str:
        return f"<slack post {self.path} {self.body[:200]!r}>"


class SlackInbox(_Collected[SlackPost]):
    """A ``pytest-httpserver`` on 127.0.0.1 answering every webhook POST as Slack does (``200 ok``)."""

    def __init__(self) -> None:
        super().__init__()
        self._server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self._server.expect_request(re.compile(".*"), method="POST").respond_with_handler(self._receive)

    def _receive(self, request: Request) -> Response:
        self.add(SlackPost(request.path, request.get_data(as_text=True)))
        return Response("ok", content_type="text/plain")

    @property
    def port(self) -> int:
        return int(self._server.port)

    def start(self) -> SlackInbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def connection(self, webhook_token: str = "T000/B000/XXXX") -> dict[str, Any]:
        """``AIRFLOW_CONN_SLACK_DEFAULT``: the scheme is required (else https), a ``port`` is ignored."""
        return {
            "conn_type": "slackwebhook",
            "host": f"http://127.0.0.1:{self.port}/services",
            "password": webhook_token,
        }

    def wait_for_post(self, match: Callable[[SlackPost], bool], timeout: float = 60) -> SlackPost:
        return self.wait_for(match, timeout, "Slack post")

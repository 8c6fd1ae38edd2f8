"""Launch ``gcp-storage-emulator``, with error bodies the Hadoop GCS connector understands.

The emulator answers a missing object with an empty 404. The Hadoop GCS connector only recognises
"not found" from a JSON error body (as Cloud Storage sends), so without one every write through the
connector fails on its parent-folder checks. We add the JSON body; nothing else changes.

It listens on 127.0.0.1 unless ``--host`` says otherwise (0.0.0.0 inside a container).
"""

from __future__ import annotations

import argparse
import logging
import time
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any

from gcp_storage_emulator import server as emulator_server

# The emulator logs every request at INFO; keep it to warnings.
logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)

_ERROR_REASONS = {404: "notFound", 409: "conflict", 412: "conditionNotMet", 400: "invalid"}
_original_close = emulator_server.Response.close


def _close_with_json_error(response: Any) -> None:
    status: HTTPStatus = response.status
    if status.value >= 400 and not response._content:
        reason = _ERROR_REASONS.get(status.value, "backendError")
        response.json(
            {
                "error": {
                    "code": status.value,
                    "message": status.phrase,
                    "errors": [{"reason": reason, "message": status.phrase, "domain": "global"}],
                }
            }
        )
    _original_close(response)


emulator_server.Response.close = _close_with_json_error


class GcsEmulator:
    """The emulator serving one bucket on ``host``:``port`` from memory or from ``data_dir``."""

    def __init__(self, port: int, bucket: str, data_dir: Path | None = None, host: str = "127.0.0.1") -> None:
        self.port = port
        self.url = f"http://{host}:{port}"
        self._server = emulator_server.create_server(
            host,
            port,
            in_memory=data_dir is None,
            default_bucket=bucket,
            data_dir=str(data_dir) if data_dir else None,
        )

    def start(self) -> GcsEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> GcsEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=9023)
    parser.add_argument("--bucket", default="tracking_orders")
    parser.add_argument("--data-dir", type=Path, default=None, help="persist objects here (default: memory)")
    args = parser.parse_args()
    with GcsEmulator(args.port, args.bucket, args.data_dir, args.host) as emulator:
        print(f"GCS emulator on {emulator.url}, bucket {args.bucket}", flush=True)
        while True:
            time.sleep(3600)


def emulator_client(url: str) -> Any:
    """A ``google-cloud-storage`` client talking to the emulator at ``url`` anonymously."""
    import os

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = url
    return storage.Client(project="local", credentials=AnonymousCredentials())


if __name__ == "__main__":
    main()

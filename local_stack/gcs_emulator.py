"""Launch ``gcp-storage-emulator``, patched to answer the way Cloud Storage does where we depend on it.

What the patches add to the package (2026.7.19), at the wire level:

- **JSON error bodies.** The emulator answers a missing object with an empty 404; the Hadoop GCS
  connector only recognises "not found" from a JSON error body (as Cloud Storage sends), so without
  one every write through the connector fails on its parent-folder checks.
- **Generations and preconditions.** The package ignores them. Here, as Cloud Storage documents
  (https://cloud.google.com/storage/docs/request-preconditions), on object GET (metadata and
  media), DELETE, PATCH, insert (media, multipart, resumable), copy, rewrite and compose:
  ``generation`` / ``sourceGeneration`` that is not the live generation is a 404;
  ``ifGenerationMatch`` / ``ifSourceGenerationMatch`` that does not hold is a 412
  ``conditionNotMet`` (``0`` means "no live object"); ``ifGenerationNotMatch`` /
  ``ifSourceGenerationNotMatch`` that does not hold is a 304 (it also fails when there is no live
  object). Checks on the object written (insert, copy and rewrite destinations) run when it is
  written. Only the live generation of an object is kept (a bucket without versioning). Batch
  requests are not checked (the package drops their query strings).
- **Any object name.** The package stores an object's bytes at a file path made from its name (so
  ``a\\1`` and ``a/1`` collide, ``x/./y`` is read back as ``x/y``, ``x/../y`` fails) and puts the
  raw name in ``mediaLink`` (which clients follow: ``?``, ``#``, ``%``, ``;`` and a trailing ``/``
  break downloads). Here bytes are kept under a hash of the name and links are percent-encoded.
- **Speed.** ``TCP_NODELAY`` on responses, and no re-serialising of all metadata after each write
  when objects are kept in memory.

- **Object notifications, when asked for.** With :class:`FinalizeNotifications` (a Pub/Sub topic,
  an object-name prefix), each object written under the prefix is announced on the topic the way
  Cloud Storage's Pub/Sub notifications announce it (``OBJECT_FINALIZE``, payload format
  ``JSON_API_V1``): see :class:`FinalizeNotifications`. Off unless a topic is given.

It listens on 127.0.0.1 unless ``--host`` says otherwise (0.0.0.0 inside a container).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from gcp_storage_emulator import server as emulator_server
from gcp_storage_emulator import storage as emulator_storage
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects as emulator_objects

# The emulator logs every request at INFO; keep it to warnings.
logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
log = logging.getLogger(__name__)

_ERROR_REASONS = {
    304: "notModified",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    400: "invalid",
}
_MESSAGES = {412: "At least one of the pre-conditions you specified did not hold."}
_original_close = emulator_server.Response.close


def _close_with_json_error(response: Any) -> None:
    status: HTTPStatus = response.status
    if status.value >= 400 and not response._content:
        reason = _ERROR_REASONS.get(status.value, "backendError")
        message = _MESSAGES.get(status.value, status.phrase)
        response.json(
            {
                "error": {
                    "code": status.value,
                    "message": message,
                    "errors": [{"reason": reason, "message": message, "domain": "global"}],
                }
            }
        )
    _original_close(response)


emulator_server.Response.close = _close_with_json_error
# Headers and body go out in separate writes: without TCP_NODELAY each response waits on the
# client's delayed ACK (tens of milliseconds a request on loopback).
emulator_server.RequestHandler.disable_nagle_algorithm = True
_original_write_config = emulator_storage.Storage._write_config_to_file


def _write_config_unless_in_memory(self: Any) -> None:
    """The package re-serialises every object's metadata after each write, only to persist it:
    pointless in memory (and a third of each write's time with a few hundred objects)."""
    if not self._use_memory_fs:
        _original_write_config(self)


emulator_storage.Storage._write_config_to_file = _write_config_unless_in_memory


# --- Object names: bytes under a hash of the name, percent-encoded links --------------------------

_original_object_path = emulator_storage.Storage._object_path
_original_get_file = emulator_storage.Storage.get_file


def _hashed_object_path(self: Any, bucket_name: str, file_name: str) -> str:
    """Where an object's bytes are kept: one flat file per name, whatever characters it has."""
    return f"{bucket_name}/{hashlib.sha256(file_name.encode('utf-8')).hexdigest()}"


def _get_file_or_legacy(self: Any, bucket_name: str, file_name: str, show_error: bool = True) -> bytes:
    """The bytes of an object, also from a data folder written before names were hashed."""
    try:
        return bytes(_original_get_file(self, bucket_name, file_name, False))
    except NotFound:
        try:
            return bytes(self._store.read_bytes(_original_object_path(self, bucket_name, file_name)))
        except (FileNotFoundError, IsADirectoryError, PermissionError, ValueError):
            return bytes(_original_get_file(self, bucket_name, file_name, show_error))


emulator_storage.Storage._object_path = _hashed_object_path
emulator_storage.Storage.get_file = _get_file_or_legacy

_original_make_object_resource = emulator_objects._make_object_resource


def _make_object_resource_with_encoded_links(
    base_url: str, bucket_name: str, object_name: str, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = _original_make_object_resource(base_url, bucket_name, object_name, *args, **kwargs)
    encoded = quote(object_name, safe="")
    obj["selfLink"] = f"{base_url}/storage/v1/b/{bucket_name}/o/{encoded}"
    obj["mediaLink"] = (
        f"{base_url}/download/storage/v1/b/{bucket_name}/o/{encoded}?generation={obj['generation']}&alt=media"
    )
    return obj


emulator_objects._make_object_resource = _make_object_resource_with_encoded_links


# --- Generations and preconditions ------------------------------------------------------------------


class _RefusedError(Exception):
    """A request Cloud Storage would refuse: answered with ``status`` and nothing done."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


_request_in_flight = threading.local()  # the write request whose preconditions guard create_file


def _query_int(request: Any, key: str) -> int | None:
    values = request.query.get(key)
    if not values:
        return None
    try:
        return int(values[0])
    except ValueError as err:
        raise _RefusedError(HTTPStatus.BAD_REQUEST) from err


def _live_generation(storage: Any, bucket_name: str, object_name: str) -> int | None:
    try:
        return int(storage.get_file_obj(bucket_name, object_name)["generation"])
    except NotFound:
        return None


def _check(
    request: Any,
    live: int | None,
    *,
    must_exist: bool,
    generation: str | None,
    match: str,
    not_match: str,
) -> None:
    """Refuse the request as Cloud Storage would, given the object's live generation (None: none)."""
    if must_exist and live is None:
        raise _RefusedError(HTTPStatus.NOT_FOUND)
    wanted = _query_int(request, generation) if generation else None
    if wanted is not None and wanted != live:
        raise _RefusedError(HTTPStatus.NOT_FOUND)  # not the live generation: no such object
    expected = _query_int(request, match)
    if expected is not None and expected != (live or 0):
        raise _RefusedError(HTTPStatus.PRECONDITION_FAILED)
    unexpected = _query_int(request, not_match)
    if unexpected is not None and (live is None or unexpected == live):
        raise _RefusedError(HTTPStatus.NOT_MODIFIED)


def _checker(source: bool) -> Any:
    """The check of the object a request names: its target (GET, DELETE, PATCH) or, for a copy or
    rewrite, its source, whose parameters Cloud Storage spells ``sourceGeneration`` and
    ``ifSourceGeneration[Not]Match``."""
    generation, match, not_match = (
        ("sourceGeneration", "ifSourceGenerationMatch", "ifSourceGenerationNotMatch")
        if source
        else ("generation", "ifGenerationMatch", "ifGenerationNotMatch")
    )

    def check(request: Any, storage: Any) -> None:
        params = request.params
        live = _live_generation(storage, params["bucket_name"], params["object_id"])
        _check(request, live, must_exist=True, generation=generation, match=match, not_match=not_match)

    return check


_check_target, _check_source = _checker(source=False), _checker(source=True)


_original_create_file = emulator_storage.Storage.create_file


def _create_file_if_preconditions_hold(  # noqa: PLR0917 (the signature it replaces)
    self: Any, bucket_name: str, file_name: str, content: bytes, file_obj: Any, file_id: Any = None
) -> None:
    """Write an object unless the write request's ``ifGenerationMatch`` / ``ifGenerationNotMatch`` fail;
    then announce it if the emulator sends notifications (:class:`FinalizeNotifications`)."""
    request = getattr(_request_in_flight, "request", None)
    notifications: FinalizeNotifications | None = getattr(self, _NOTIFICATIONS, None)
    live = None
    if request is not None or notifications is not None:
        live = _live_generation(self, bucket_name, file_name)
    if request is not None:
        _check(
            request,
            live,
            must_exist=False,
            generation=None,
            match="ifGenerationMatch",
            not_match="ifGenerationNotMatch",
        )
    _original_create_file(self, bucket_name, file_name, content, file_obj, file_id)
    if notifications is not None:
        notifications.object_finalized(file_obj, overwrote=live)


emulator_storage.Storage.create_file = _create_file_if_preconditions_hold

Handler = Callable[[Any, Any, Any], Any]


def _guarded(handler: Handler, pre_check: Callable[[Any, Any], None] | None, writes: bool) -> Handler:
    def guarded(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        soft_deleted = (request.query.get("softDeleted") or ["false"])[0].lower() in ("1", "true", "yes")
        try:
            if pre_check is not None and not soft_deleted:
                pre_check(request, storage)
            if writes:
                _request_in_flight.request = request
            return handler(request, response, storage, *args, **kwargs)
        except _RefusedError as refused:
            response.status = refused.status
            response._content = ""
            return None
        finally:
            _request_in_flight.request = None

    return guarded


_GUARDS: dict[Any, tuple[Callable[[Any, Any], None] | None, bool]] = {
    emulator_objects.get: (_check_target, False),
    emulator_objects.download: (_check_target, False),
    emulator_objects.delete: (_check_target, False),
    emulator_objects.patch: (_check_target, False),
    emulator_objects.copy: (_check_source, True),
    emulator_objects.rewrite: (_check_source, True),
    emulator_objects.insert: (None, True),
    emulator_objects.upload_partial: (None, True),
    emulator_objects.compose: (None, True),
}


def _install_guards() -> None:
    for _pattern, handlers in emulator_server.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler in _GUARDS:
                pre_check, writes = _GUARDS[handler]
                handlers[method] = _guarded(handler, pre_check, writes)


_install_guards()


# --- Pub/Sub notifications ---------------------------------------------------------------------------

_NOTIFICATIONS = "_order_tracking_finalize_notifications"  # the Storage attribute holding them


@dataclass(frozen=True)
class FinalizeNotifications:
    """Publish, for each object written under ``prefix``, the message Cloud Storage would publish.

    What Cloud Storage sends for a notification configuration with ``event_types=OBJECT_FINALIZE``
    and ``payload_format=JSON_API_V1`` (https://cloud.google.com/storage/docs/pubsub-notifications,
    "Notification format" and "Attributes"; the configuration resource:
    https://cloud.google.com/storage/docs/json_api/v1/notifications):

    - **data**: the object's JSON API resource, as ``objects.get`` returns it (here: exactly what the
      emulator's own ``objects.get`` answers, ``generation`` and ``size`` as strings);
    - **attributes**: ``notificationConfig`` (``projects/_/buckets/<bucket>/notificationConfigs/<id>``),
      ``eventType`` (``OBJECT_FINALIZE``), ``payloadFormat`` (``JSON_API_V1``), ``bucketId``,
      ``objectId``, ``objectGeneration``, ``eventTime`` (RFC 3339: the object's ``updated``, the
      moment it was finalized), and ``overwroteGeneration`` only when the write replaced a live
      object (its generation). With a finalize-only configuration, Cloud Storage sends nothing for
      the replaced object itself (that is ``OBJECT_DELETE`` / ``OBJECT_ARCHIVE``, with
      ``overwrittenByGeneration``), so neither is sent here.

    Every write that creates a generation is a finalize, as in Cloud Storage: simple, multipart and
    resumable uploads (the last chunk), copies, rewrites, composes and restores. The object name
    must start with ``prefix`` (a plain string prefix, as ``object_name_prefix``: sub-folders and
    folder placeholders under it match too). The message is published in the request's thread,
    before the response goes out, so a client that has its upload's answer can already pull the
    message (Cloud Storage publishes shortly after; a subscriber must not rely on the order). A
    failed publish is logged and the write stands, as a lost notification would leave it.

    Why not ``fake-gcs-server`` (``-event.pubsub-topic``), which emits notifications itself: it
    would replace the emulator whose patches (generations, preconditions, any object name) the
    whole suite relies on, and its messages are not quite Cloud Storage's: no
    ``notificationConfig`` attribute, ``generation`` a JSON number instead of a string, and a
    reduced object resource (fsouza/fake-gcs-server ``internal/notification/event.go``).

    ``publisher`` is a ``google.cloud.pubsub_v1.PublisherClient`` (on the emulator:
    ``local_stack.pubsub_emulator.emulator_clients``); ``topic`` its full path
    (``projects/<project>/topics/<topic>``).
    """

    topic: str
    publisher: Any
    prefix: str = ""
    config_id: str = "1"
    publish_timeout: float = 30

    def message(self, resource: dict[str, Any], overwrote: int | None) -> tuple[bytes, dict[str, str]]:
        """The ``(data, attributes)`` of the notification for the object ``resource`` just written."""
        bucket = resource["bucket"]
        attributes = {
            "notificationConfig": f"projects/_/buckets/{bucket}/notificationConfigs/{self.config_id}",
            "eventType": "OBJECT_FINALIZE",
            "payloadFormat": "JSON_API_V1",
            "bucketId": str(resource["bucket"]),
            "objectId": str(resource["name"]),
            "objectGeneration": str(resource["generation"]),
            "eventTime": str(resource["updated"]),
        }
        if overwrote is not None:
            attributes["overwroteGeneration"] = str(overwrote)
        return json.dumps(resource).encode("utf-8"), attributes

    def object_finalized(self, resource: dict[str, Any], overwrote: int | None) -> None:
        """Publish the notification of ``resource`` if its name is under :attr:`prefix`."""
        if not str(resource["name"]).startswith(self.prefix):
            return
        data, attributes = self.message(resource, overwrote)
        try:
            self.publisher.publish(self.topic, data, **attributes).result(timeout=self.publish_timeout)
        except Exception as error:  # the write stands, as in Cloud Storage; say what was lost
            log.warning(
                "GCS emulator: OBJECT_FINALIZE of gs://%s/%s (generation %s) not published to %s: %r",
                resource["bucket"],
                resource["name"],
                resource["generation"],
                self.topic,
                error,
            )


class GcsEmulator:
    """The emulator serving one bucket on ``host``:``port`` from memory or from ``data_dir``.

    ``notifications``: publish Cloud Storage's ``OBJECT_FINALIZE`` notifications (off by default).
    """

    def __init__(
        self,
        port: int,
        bucket: str,
        data_dir: Path | None = None,
        host: str = "127.0.0.1",
        notifications: FinalizeNotifications | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://{host}:{port}"
        self._server = emulator_server.create_server(
            host,
            port,
            in_memory=data_dir is None,
            default_bucket=bucket,
            data_dir=str(data_dir) if data_dir else None,
        )
        self.send_notifications(notifications)

    def send_notifications(self, notifications: FinalizeNotifications | None) -> None:
        """From the next write on, publish ``OBJECT_FINALIZE`` notifications this way (``None``: stop),
        as adding or deleting a bucket's notification configuration does; also while serving."""
        setattr(self._server._storage, _NOTIFICATIONS, notifications)

    def start(self) -> GcsEmulator:
        """Serve from a background thread; returns once it listens.

        Raises:
            OSError: the server thread died before listening, most often because the port is taken
                (the library's own ``start`` would wait for ever then).
        """
        api = self._server._api  # gcp-storage-emulator's APIThread: binds and serves in run()
        api.start()
        while not api.is_running.wait(0.05):
            if not api.is_alive():
                raise OSError(
                    f"the GCS emulator could not listen on {self.url} (its error is printed above); "
                    f"is the port taken? `ss -ltnp 'sport = :{self.port}'` shows by what"
                )
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
    parser.add_argument(
        "--notify-topic",
        help="publish OBJECT_FINALIZE notifications to this topic (projects/P/topics/T) on the Pub/Sub "
        "emulator at $PUBSUB_EMULATOR_HOST",
    )
    parser.add_argument("--notify-prefix", default="", help="only for object names starting with this")
    args = parser.parse_args()
    notifications = None
    if args.notify_topic:
        if not os.environ.get("PUBSUB_EMULATOR_HOST"):
            parser.error("--notify-topic needs PUBSUB_EMULATOR_HOST (the Pub/Sub emulator's host:port)")
        from local_stack.pubsub_emulator import emulator_clients

        publisher, _ = emulator_clients(os.environ["PUBSUB_EMULATOR_HOST"])
        notifications = FinalizeNotifications(args.notify_topic, publisher, args.notify_prefix)
    with GcsEmulator(args.port, args.bucket, args.data_dir, args.host, notifications) as emulator:
        print(f"GCS emulator on {emulator.url}, bucket {args.bucket}", flush=True)
        while True:
            time.sleep(3600)


def emulator_client(url: str) -> Any:
    """A ``google-cloud-storage`` client talking to the emulator at ``url`` anonymously."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = url
    return storage.Client(project="local", credentials=AnonymousCredentials())


if __name__ == "__main__":
    main()

"""`labelloop listen`: receive Label Studio webhooks and only record that labels are waiting.

No training happens inside a request: the handler checks the shared secret and the
body, hands one event row to the server's single writer thread, and answers once it is
stored. The loop (or the next pull) does the work.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from labelloop.annotate.state.store import StateStore

__all__ = [
    "ACTIONS",
    "MAX_BODY",
    "SECRET_HEADER",
    "JsonHandler",
    "WebhookServer",
    "make_server",
]

log = logging.getLogger("labelloop")
SECRET_HEADER = "X-Labelloop-Secret"
ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")
MAX_BODY = 10 * 1024 * 1024
_DIGITS = re.compile(r"[0-9]+")


class PayloadError(ValueError):
    """A webhook body that is JSON but not a Label Studio event (answered with 400)."""


def _task_id(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise PayloadError(f"{where}: expected a task id (a whole number), got {value!r:.40}")


def _task_ids(payload: dict[str, Any]) -> list[int]:
    ids: list[int] = []
    task = payload.get("task")
    if isinstance(task, dict) and "id" in task:
        ids.append(_task_id(task["id"], "task.id"))
    annotations = payload.get("annotations") or []
    if not isinstance(annotations, list):
        raise PayloadError("annotations: expected a list")
    for k, annotation in enumerate(annotations):
        if isinstance(annotation, dict) and "task" in annotation:
            ids.append(_task_id(annotation["task"], f"annotations.{k}.task"))
    return sorted(set(ids))


class JsonHandler(BaseHTTPRequestHandler):
    """Answers in JSON and reads a JSON object body with bounded, checked length.

    Shared by the webhook listener and ``labelloop serve``.
    """

    def log_message(self, format: str, *args: Any) -> None:
        """Send the request log to labelloop's debug log, not to stderr."""
        log.debug("%s %s", type(self).__name__, format % args)

    def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _recorded(self, action: str, ids: list[int], timeout_s: float) -> bool:
        """Store one event through the server's writer thread, or answer 503.

        ``self.server`` is a :class:`WebhookServer` (its ``writer`` and ``store``).
        """
        server: Any = self.server
        try:
            server.writer.submit(server.store.record_event, action, ids).result(timeout=timeout_s)
        except (FutureTimeout, sqlite3.Error, RuntimeError) as exc:
            log.warning("%s: event not stored (%s)", type(self).__name__, exc)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "state busy; retry"})
            return False
        return True

    def _json_body(self) -> dict[str, Any] | None:
        """Return the body as a JSON object, or answer 400/413 and return ``None``."""
        header = (self.headers.get("Content-Length") or "0").strip()
        if not _DIGITS.fullmatch(header):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"bad Content-Length {header!r:.40}"})
            return None
        length = int(header)
        if length > MAX_BODY:
            self._answer(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"error": f"body of {length} bytes; at most {MAX_BODY}"},
            )
            return None
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "expected a JSON object"})
            return None
        return payload


class WebhookServer(ThreadingHTTPServer):
    """A threading HTTP server whose state writes all go through one writer thread.

    SQLite connections must not be shared between request threads (their transactions
    interleave); the writer thread owns the server's own connection to the state file.
    """

    daemon_threads = True
    request_queue_size = 256  # a burst of deliveries waits in the backlog, not refused

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], path: Path
    ) -> None:
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-writer")
        # Opened on the writer thread, used only there.
        self.store: StateStore = self.writer.submit(StateStore, path).result()
        try:
            super().__init__(address, handler)
        except BaseException:
            self._close_writer()
            raise

    def _close_writer(self) -> None:
        self.writer.submit(self.store.close).result()
        self.writer.shutdown(wait=True)

    def server_close(self) -> None:
        """Close the socket, then the writer thread and its connection."""
        super().server_close()
        self._close_writer()


def make_server(
    host: str,
    port: int,
    secret: str,
    state: StateStore,
    *,
    timeout_s: float = 10.0,
    write_timeout_s: float = 30.0,
) -> WebhookServer:
    """Build the webhook server (call ``serve_forever`` on it, ``server_close`` after).

    Answers 401 without the right ``X-Labelloop-Secret`` header; 400 at once for a
    ``Content-Length`` that is not a whole number, and for a body that is not a JSON
    object or holds a task id that is not a whole number; 413 for a body over
    ``MAX_BODY`` bytes; 202 once an annotation event is stored; 200 for other actions;
    503 when the state file stays locked for ``write_timeout_s``.

    Parameters
    ----------
    host, port : str, int
        Where to listen (labelloop binds 127.0.0.1).
    secret : str
        The shared secret Label Studio sends in ``X-Labelloop-Secret``.
    state : StateStore
        The project's state; the server writes to its file through a connection of its
        own, from one writer thread.
    timeout_s : float
        Socket timeout: a client silent this long is disconnected.
    write_timeout_s : float
        How long a request waits for its event to be stored.
    """
    expected = secret.encode()

    class Handler(JsonHandler):
        timeout = timeout_s  # applied to each connection's socket by StreamRequestHandler
        server: WebhookServer

        def _stored(self, work: Any, *args: Any) -> Any:
            return self.server.writer.submit(work, *args).result(timeout=write_timeout_s)

        def do_GET(self) -> None:
            if self.path != "/health":
                self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            try:
                pending = self._stored(self.server.store.pending_events)
            except (FutureTimeout, sqlite3.Error, RuntimeError):
                self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "state busy; retry"})
                return
            self._answer(HTTPStatus.OK, {"status": "UP", "pending_events": pending})

        def do_POST(self) -> None:
            given = (self.headers.get(SECRET_HEADER) or "").encode()
            if not hmac.compare_digest(given, expected):
                self._answer(
                    HTTPStatus.UNAUTHORIZED, {"error": f"missing or wrong {SECRET_HEADER}"}
                )
                return
            payload = self._json_body()
            if payload is None:
                return
            action = str(payload.get("action", ""))
            if action not in ACTIONS:
                self._answer(HTTPStatus.OK, {"ignored": action[:80]})
                return
            try:
                ids = _task_ids(payload)
            except PayloadError as exc:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            if self._recorded(action, ids, write_timeout_s):
                self._answer(HTTPStatus.ACCEPTED, {"recorded": action})

    return WebhookServer((host, port), Handler, state.path)

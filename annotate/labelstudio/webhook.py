"""`labelloop listen`: receive Label Studio webhooks and only record that labels are waiting.

No training happens inside a request: the handler checks the shared secret, stores one
event row and answers. The loop (or the next pull) does the work.
"""

from __future__ import annotations

import hmac
import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from labelloop.annotate.state.store import StateStore

__all__ = ["ACTIONS", "SECRET_HEADER", "make_server"]

log = logging.getLogger("labelloop")
SECRET_HEADER = "X-Labelloop-Secret"
ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")
MAX_BODY = 10 * 1024 * 1024


def _task_ids(payload: dict[str, Any]) -> list[int]:
    ids: list[int] = []
    task = payload.get("task")
    if isinstance(task, dict) and "id" in task:
        ids.append(int(task["id"]))
    for annotation in payload.get("annotations") or []:
        if isinstance(annotation, dict) and "task" in annotation:
            ids.append(int(annotation["task"]))
    return sorted(set(ids))


def make_server(host: str, port: int, secret: str, state: StateStore) -> ThreadingHTTPServer:
    """Build the webhook server (call ``serve_forever`` on it).

    Answers 401 without the right ``X-Labelloop-Secret`` header, 400 for a body that is
    not a JSON object, 202 for a recorded annotation event, 200 for other actions.
    """
    expected = secret.encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("webhook %s", format % args)

        def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(
                    HTTPStatus.OK, {"status": "UP", "pending_events": state.pending_events()}
                )
            else:
                self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})

        def do_POST(self) -> None:
            given = (self.headers.get(SECRET_HEADER) or "").encode()
            if not hmac.compare_digest(given, expected):
                self._answer(
                    HTTPStatus.UNAUTHORIZED, {"error": f"missing or wrong {SECRET_HEADER}"}
                )
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                return
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                self._answer(HTTPStatus.BAD_REQUEST, {"error": "expected a JSON object"})
                return
            action = str(payload.get("action", ""))
            if action not in ACTIONS:
                self._answer(HTTPStatus.OK, {"ignored": action})
                return
            state.record_event(action, _task_ids(payload))
            self._answer(HTTPStatus.ACCEPTED, {"recorded": action})

    return ThreadingHTTPServer((host, port), Handler)

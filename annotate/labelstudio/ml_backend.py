"""`labelloop serve`: Label Studio's ML backend protocol, answered by the champion.

Label Studio calls ``/health`` (1 s timeout) and ``/setup`` (3 s) when the model is
connected and before predicting, ``/predict`` for "Retrieve predictions", for a task
opened without a prediction and for "Send Test Request", ``/webhook`` with annotation
events and ``START_TRAINING`` (older versions POST ``/train``), and ``/versions``.
Label Studio sends no header of ours, neither on these calls nor on the annotation
webhooks it registers for a connected model (``<url>/webhook``), so the shared secret is
the first segment of the URL it is given: ``http://127.0.0.1:PORT/<secret>/``, which
it extends with each endpoint. Any other path is answered 401. Label events are stored as the
webhook listener stores them (one writer thread); a training request is stored too,
and `labelloop run` starts a cycle on it.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

from labelloop.annotate.labelstudio.webhook import (
    ACTIONS,
    JsonHandler,
    PayloadError,
    WebhookServer,
    _task_ids,
)

__all__ = ["TRAIN_ACTION", "MlBackendServer", "Scorer", "check_secret", "make_ml_backend"]

log = logging.getLogger("labelloop")
TRAIN_ACTION = "START_TRAINING"
ENDPOINTS = ("/health", "/setup", "/predict", "/webhook", "/train", "/versions")


class Scorer(Protocol):
    """What the server asks for predictions (:class:`ChampionScorer`)."""

    def version(self) -> str | None:
        """Return the version predictions come from now."""

    def versions(self) -> list[str]:
        """Return every version there is."""

    def predict(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return one prediction per task, in order."""


class MlBackendServer(WebhookServer):
    """The webhook server's single writer, plus a count of the calls per endpoint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def count(self, endpoint: str) -> None:
        """Count one call (thread-safe)."""
        with self._count_lock:
            self.calls[endpoint] += 1


_URL_SAFE = re.compile(r"[A-Za-z0-9_-]{16,}")


def check_secret(secret: str) -> None:
    """Refuse a secret that cannot be a URL path segment or is too short to guess.

    Raises
    ------
    ValueError
        Unless the secret is 16 or more letters, digits, ``-`` or ``_``.
    """
    if not _URL_SAFE.fullmatch(secret):
        raise ValueError(
            "the serve secret must be 16 or more letters, digits, '-' or '_' (it is a "
            "URL path segment); for example: python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))'"
        )


def make_ml_backend(
    host: str,
    port: int,
    secret: str,
    state_file: Path,
    scorer: Scorer,
    *,
    timeout_s: float = 30.0,
    write_timeout_s: float = 30.0,
) -> MlBackendServer:
    """Build the ML backend server (``serve_forever`` on it, ``server_close`` after).

    Answers 401 to a path that does not start with ``/<secret>/``; 400 for a body that is not
    a JSON object, a ``/predict`` without a list of ``tasks``, or a bad task id in an
    event; 413 for a body over ``MAX_BODY``; 404 for other paths; 503 when the state
    file stays locked for ``write_timeout_s``.

    Parameters
    ----------
    host, port : str, int
        Where to listen (labelloop binds 127.0.0.1).
    secret : str
        The first path segment of every call (see :func:`check_secret`).
    state_file : Path
        The project's state file; events go in through the server's writer thread.
    scorer : Scorer
        Gives the model version and the predictions.
    timeout_s : float
        Socket timeout: a client silent this long is disconnected.
    write_timeout_s : float
        How long a request waits for its event to be stored.
    """
    check_secret(secret)
    expected = f"/{secret}".encode()

    class Handler(JsonHandler):
        timeout = timeout_s
        server: MlBackendServer
        _named = "(refused)"  # the endpoint of the request, for logs: never the path

        def _endpoint(self) -> str | None:
            """Check the secret segment; return the endpoint (counted), or answer."""
            self._named = "(refused)"
            path = self.path.split("?", 1)[0]
            given, _, rest = path.partition("/")[2].partition("/")
            if not hmac.compare_digest(f"/{given}".encode(), expected):
                self._answer(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong secret path"})
                return None
            endpoint = "/" + rest.strip("/")
            if endpoint not in ENDPOINTS:
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {endpoint[:80]}"})
                return None
            self.server.count(endpoint)
            self._named = endpoint
            return endpoint

        def log_message(self, format: str, *args: Any) -> None:
            # The request line holds the secret: only the endpoint is logged.
            log.debug("serve %s %s", self.command, self._named)

        def _record(self, action: str, ids: list[int]) -> bool:
            return self._recorded(action, ids, write_timeout_s)

        def _guarded(self, work: Callable[[], None]) -> None:
            try:
                work()
            except Exception as exc:  # the answer says what failed; the server stays up
                log.warning("serve: %s failed: %s", self._named, exc)
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)[:300]})

        def do_GET(self) -> None:  # noqa: N802 (http.server names it)
            endpoint = self._endpoint()
            if endpoint in ("/health", "/versions"):
                self._read_only(endpoint)
            elif endpoint is not None:
                self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"POST {endpoint}"})

        def do_POST(self) -> None:  # noqa: N802 (http.server names it)
            endpoint = self._endpoint()
            if endpoint is None:
                return
            payload = self._json_body()
            if payload is None:
                return
            if endpoint in ("/health", "/versions"):
                self._read_only(endpoint)
            elif endpoint == "/setup":
                self._guarded(
                    lambda: self._answer(
                        HTTPStatus.OK, {"model_version": scorer.version() or "none"}
                    )
                )
            elif endpoint == "/predict":
                tasks = payload.get("tasks")
                if not isinstance(tasks, list):
                    self._answer(HTTPStatus.BAD_REQUEST, {"error": "tasks: expected a list"})
                    return
                self._guarded(
                    lambda: self._answer(HTTPStatus.OK, {"results": scorer.predict(tasks)})
                )
            elif endpoint == "/train":
                if self._record(TRAIN_ACTION, []):
                    self._answer(HTTPStatus.CREATED, {"job": "labelloop run starts a cycle"})
            else:
                self._event(payload)

        def _read_only(self, endpoint: str) -> None:
            if endpoint == "/health":
                self._answer(HTTPStatus.OK, {"status": "UP", "model_class": "labelloop"})
            else:
                self._guarded(lambda: self._answer(HTTPStatus.OK, {"versions": scorer.versions()}))

        def _event(self, payload: dict[str, Any]) -> None:
            action = str(payload.get("action", ""))
            if action == TRAIN_ACTION:
                if self._record(TRAIN_ACTION, []):
                    self._answer(HTTPStatus.CREATED, {"recorded": action})
                return
            if action not in ACTIONS:
                self._answer(HTTPStatus.OK, {"ignored": action[:80]})
                return
            try:
                ids = _task_ids(payload)
            except PayloadError as exc:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            if self._record(action, ids):
                self._answer(HTTPStatus.CREATED, {"recorded": action})

    return MlBackendServer((host, port), Handler, state_file)

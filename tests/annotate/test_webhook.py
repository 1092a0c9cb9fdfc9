"""The webhook receiver against a real Label Studio delivering real events."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk.core.api_error import ApiError

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials, free_port
from labelloop.annotate.labelstudio.webhook import ACTIONS, MAX_BODY, SECRET_HEADER, make_server
from labelloop.annotate.loop.features import load_project_pool
from labelloop.annotate.state.store import StateStore
from tests.helpers import api, choice, push, write_config

pytestmark = pytest.mark.integration


def post(url: str, body: dict[str, Any], secret: str | None) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    if secret is not None:
        request.add_header(SECRET_HEADER, secret)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_secret_is_checked_and_events_are_only_recorded(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    port = free_port()
    server = make_server("127.0.0.1", port, "s3cret", state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/webhook"
        event = {"action": "ANNOTATION_CREATED", "task": {"id": 4}, "annotation": {"id": 9}}
        assert post(url, event, None) == 401
        assert post(url, event, "wrong") == 401
        assert state.pending_events() == 0
        assert post(url, event, "s3cret") == 202
        assert post(url, {"action": "PROJECT_UPDATED"}, "s3cret") == 200
        assert state.pending_events() == 1
    finally:
        server.shutdown()
        server.server_close()


def test_label_studio_delivers_annotation_events(
    open_tracked: Any, loopback_label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = loopback_label_studio
    config = load_config(write_config(tmp_path, "webhook"))
    project = open_tracked(config, load_project_pool(config), workdir)
    push(project, 3, tmp_path / "cache")
    port = free_port()
    server = make_server("127.0.0.1", port, "hook-secret", project.state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ls = api(credentials)
        ls.webhooks.create(
            project=project.project_id,
            url=f"http://127.0.0.1:{port}/webhook",
            headers={SECRET_HEADER: "hook-secret"},
            send_payload=True,
            send_for_all_actions=False,
            actions=list(ACTIONS),
        )
        task = next(iter(project.state.task_map().values()))
        annotation = ls.annotations.create(id=task, result=choice(project.labels[0]))
        ls.annotations.update(id=annotation.id, result=choice(project.labels[1]))
        ls.annotations.delete(id=annotation.id)
        assert project.state.pending_events() == 3  # delivery is synchronous
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, StateStore]]:
    """A running listener with secret ``s3cret`` and a socket timeout of one second."""
    state = StateStore(tmp_path / "state.sqlite")
    port = free_port()
    server = make_server("127.0.0.1", port, "s3cret", state, timeout_s=1.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/webhook", state
    finally:
        server.shutdown()
        server.server_close()
        state.close()


def raw_exchange(url: str, head: str, wait_s: float) -> tuple[bytes, float]:
    """Send raw request bytes, keep the socket open, and return what comes back, and when."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port))) as conn:
        conn.settimeout(wait_s)
        conn.sendall(head.encode())
        answer = b""
        try:
            while chunk := conn.recv(4096):
                answer += chunk
        except TimeoutError:
            pass
    return answer, time.monotonic() - started


def test_concurrent_deliveries_are_all_recorded(listener: tuple[str, StateStore]) -> None:
    url, state = listener
    go = threading.Barrier(200)

    def deliver(task: int) -> int:
        go.wait()
        return post(url, {"action": "ANNOTATION_CREATED", "task": {"id": task}}, "s3cret")

    with ThreadPoolExecutor(max_workers=200) as pool:
        codes = list(pool.map(deliver, range(200)))
    assert codes == [202] * 200
    assert state.pending_events() == 200


@pytest.mark.parametrize("length", ["-1", "abc", "1.5", "", " -0x10"])
def test_a_bad_content_length_is_refused_at_once(
    listener: tuple[str, StateStore], length: str
) -> None:
    url, state = listener
    head = (
        "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Labelloop-Secret: s3cret\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    answer, seconds = raw_exchange(url, head, wait_s=3.0)
    if length == "":  # an empty header counts as no body
        assert answer.startswith(b"HTTP/1.0 200"), answer
    else:
        assert answer.startswith(b"HTTP/1.0 400"), answer
        assert b"bad Content-Length" in answer
    assert seconds < 1.0
    assert state.pending_events() == 0


def test_an_oversized_body_is_refused_unread(listener: tuple[str, StateStore]) -> None:
    url, _ = listener
    head = (
        "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Labelloop-Secret: s3cret\r\n"
        f"Content-Length: {MAX_BODY + 1}\r\n\r\n"
    )
    answer, seconds = raw_exchange(url, head, wait_s=3.0)
    assert answer.startswith(b"HTTP/1.0 413"), answer
    assert seconds < 1.0


def test_a_silent_client_is_disconnected(listener: tuple[str, StateStore]) -> None:
    url, _ = listener
    head = "POST /webhook HTTP/1.1\r\nX-Labelloop-Secret: s3cret\r\nContent-Length: 100\r\n\r\n{"
    answer, seconds = raw_exchange(url, head, wait_s=5.0)
    assert answer == b"" and 0.9 < seconds < 4.0  # closed by the 1 s socket timeout
    assert post(url, {"action": "ANNOTATION_CREATED", "task": {"id": 1}}, "s3cret") == 202


@pytest.mark.parametrize(
    "event",
    [
        {"action": "ANNOTATION_CREATED", "task": {"id": "abc"}},
        {"action": "ANNOTATION_CREATED", "task": {"id": 1.5}},
        {"action": "ANNOTATION_CREATED", "task": {"id": None}},
        {"action": "ANNOTATION_CREATED", "task": {"id": [4]}},
        {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1, "task": "-3"}]},
        {"action": "ANNOTATIONS_DELETED", "annotations": {"id": 1}},
    ],
)
def test_a_bad_task_id_is_refused_and_the_listener_keeps_serving(
    listener: tuple[str, StateStore], event: dict[str, Any]
) -> None:
    url, state = listener
    assert post(url, event, "s3cret") == 400
    assert state.pending_events() == 0
    good = {"action": "ANNOTATION_CREATED", "task": {"id": "7"}}
    assert post(url, good, "s3cret") == 202
    assert state.pending_events() == 1


def test_the_loopback_webhook_opens_only_127_0_0_1(
    loopback_label_studio: tuple[Path, Credentials],
) -> None:
    _, credentials = loopback_label_studio
    ls = api(credentials)
    project = ls.projects.create(title="loopback-only")
    try:
        made = ls.webhooks.create(project=project.id, url="http://127.0.0.1:9/webhook")
        ls.webhooks.delete(id=made.id)
        for url in (
            "http://127.0.0.2:9/webhook",
            "http://10.0.0.1/webhook",
            "http://192.168.1.1/webhook",
            "http://169.254.169.254/latest/meta-data/",
        ):
            with pytest.raises(ApiError) as info:
                ls.webhooks.create(project=project.id, url=url)
            assert info.value.status_code == 403, url  # Label Studio's SsrfBlockedUrlError
            assert "reserved network address" in str(info.value.body), url
    finally:
        ls.projects.delete(id=project.id)

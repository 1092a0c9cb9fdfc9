"""The webhook receiver against a real Label Studio delivering real events."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials, free_port
from labelloop.annotate.labelstudio.webhook import ACTIONS, SECRET_HEADER, make_server
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
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
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

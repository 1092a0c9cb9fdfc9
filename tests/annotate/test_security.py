"""Security defaults of the embedded Label Studio, checked against the real server."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from label_studio_sdk.core.api_error import ApiError

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.schema import load_config
from labelloop.annotate.errors import ServerError
from labelloop.annotate.labelstudio.server import (
    Credentials,
    free_port,
    load_credentials,
    start_server,
)
from labelloop.annotate.loop.annotator import SimulatedAnnotator, demo_account
from labelloop.annotate.loop.features import load_project_pool
from tests.helpers import api, write_config

pytestmark = pytest.mark.integration


def can_log_in(url: str, email: str, password: str) -> bool:
    """Log in through Label Studio's login page, as a person in a browser would."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as browser:
        page = browser.get("/user/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None, page.text[:300]
        answer = browser.post(
            "/user/login/",
            data={"csrfmiddlewaretoken": token.group(1), "email": email, "password": password},
            headers={"Referer": f"{url}/user/login/"},
        )
        return answer.status_code == 302 and "/user/login" not in answer.headers["location"]


def test_ssrf_protection_is_on_by_default(label_studio: tuple[Path, Credentials]) -> None:
    _, credentials = label_studio
    ls = api(credentials)
    project = ls.projects.create(title="ssrf-default")
    try:
        for url in ("http://127.0.0.1:9/webhook", "http://169.254.169.254/latest/meta-data/"):
            with pytest.raises(ApiError) as info:
                ls.webhooks.create(project=project.id, url=url)
            assert info.value.status_code == 403, url  # Label Studio's SsrfBlockedUrlError
            assert "reserved network address" in str(info.value.body), url
    finally:
        ls.projects.delete(id=project.id)


def test_listen_says_how_to_allow_the_loopback_webhook(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, _ = label_studio
    config = write_config(tmp_path, "listen-blocked")
    result = CliRunner(env={"LABELLOOP_WEBHOOK_SECRET": "s"}).invoke(
        main, ["listen", "--config", str(config), "--workdir", str(workdir)]
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "blocks webhooks to 127.0.0.1 (SSRF protection)" in result.stderr
    assert "--allow-loopback-webhook" in result.stderr


def test_demo_account_passwords_are_random() -> None:
    passwords = [demo_account(k)["password"] for k in (1, 1, 2)]
    assert len(set(passwords)) == 3
    assert all(len(p) >= 32 and "demo" not in p for p in passwords)


def test_demo_annotators_cannot_log_in_with_a_guess(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    assert can_log_in(
        credentials.url, credentials.username, credentials.password
    )  # the check works
    config = load_config(write_config(tmp_path, "annotators"))
    project = open_tracked(config, load_project_pool(config), workdir)
    annotator = SimulatedAnnotator(project, workdir)
    annotator.close()
    emails = {u.id: u.email for u in api(credentials).users.list()}
    assert {emails[p] for p in annotator.people} == {
        "annotator-1@labelloop.local",
        "annotator-2@labelloop.local",
    }
    for k in (1, 2):
        for guess in (f"demo-{k}-0-pw!", f"demo-{k}-{annotator.seed}-pw!", "annotator", ""):
            assert not can_log_in(credentials.url, f"annotator-{k}@labelloop.local", guess)


def test_credentials_are_written_atomically_and_privately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Label Studio that exits at once: only the credentials file is under test here.
    fake = tmp_path / "bin" / "label-studio"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LABELLOOP_LABEL_STUDIO_BIN", str(fake))
    workdir = tmp_path / "work"
    folder = workdir / "label-studio"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere" / "leak.json"
    elsewhere.parent.mkdir()
    (folder / "credentials.json").symlink_to(elsewhere)  # planted, dangling
    with pytest.raises(ServerError, match="exited before answering"):
        start_server(workdir, port=free_port(), timeout_s=10)
    path = folder / "credentials.json"
    assert not path.is_symlink() and not elsewhere.exists()  # replaced, not written through
    assert path.stat().st_mode & 0o777 == 0o600
    credentials = load_credentials(workdir)
    assert credentials is not None and json.loads(path.read_text())["api_key"]
    assert sorted(p.name for p in folder.iterdir()) == ["credentials.json", "server.log"]
    assert os.access(path, os.R_OK)


def test_credentials_in_the_label_studio_url_never_reach_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labelloop.annotate.errors import LabelStudioError
    from labelloop.annotate.labelstudio.client import connect
    from labelloop.annotate.labelstudio.server import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://alice:s3cret@127.0.0.1:{port}")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    with pytest.raises(LabelStudioError) as caught:
        connect(tmp_path, retries=0, timeout_s=2)
    assert "s3cret" not in str(caught.value)
    assert f"http://***@127.0.0.1:{port}" in str(caught.value)

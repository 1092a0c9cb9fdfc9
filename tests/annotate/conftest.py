"""A real Label Studio for the integration tests: started once per session, stopped by pid."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labelloop.annotate.labelstudio.server import Credentials, free_port, start_server, stop_server
from labelloop.annotate.loop.project import LabellingProject, open_project
from tests.helpers import close_clients


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Credentials]]:
    workdir = tmp_path_factory.mktemp("ls-workdir")
    _, credentials, _ = start_server(workdir, port=free_port(), timeout_s=300)
    try:
        yield workdir, credentials
    finally:
        close_clients()
        stop_server(workdir)


@pytest.fixture(scope="session")
def loopback_label_studio(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Credentials]]:
    """A second Label Studio for the session, allowed to send webhooks to 127.0.0.1.

    Started once, beside the plain one (restarting the plain one for each module that
    needs this cost a minute or more each time).
    """
    workdir = tmp_path_factory.mktemp("ls-loopback")
    _, credentials, _ = start_server(
        workdir, port=free_port(), timeout_s=300, loopback_webhook=True
    )
    try:
        yield workdir, credentials
    finally:
        stop_server(workdir)


@pytest.fixture
def open_tracked() -> Iterator[Callable[..., LabellingProject]]:
    """``open_project``, with every project closed after the test."""
    opened: list[LabellingProject] = []

    def _open(*args: Any, **kwargs: Any) -> LabellingProject:
        project = open_project(*args, **kwargs)
        opened.append(project)
        return project

    yield _open
    for project in opened:
        project.close()

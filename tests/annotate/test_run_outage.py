"""Integration: `labelloop run` waits out a Label Studio restart and carries on.

This module stops and restarts the session's Label Studio; it always leaves it running
on the same port, as it found it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.client import sdk_client
from labelloop.annotate.labelstudio.server import (
    Credentials,
    server_status,
    start_server,
    stop_server,
)
from labelloop.annotate.loop.project import state_path
from labelloop.annotate.state.store import StateStore
from tests.helpers import choice, write_config

pytestmark = pytest.mark.integration


def _collect(stream: IO[str], lines: list[str]) -> threading.Thread:
    def read() -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait_for(found: Callable[[], bool], timeout_s: float, what: str, out: list[list[str]]) -> None:
    deadline = time.monotonic() + timeout_s
    while not found():
        if time.monotonic() > deadline:
            shown = "\n".join(line for lines in out for line in lines)
            raise AssertionError(f"no {what} within {timeout_s} s; output:\n{shown}")
        time.sleep(0.5)


def test_run_waits_out_a_label_studio_restart_and_runs_the_next_cycle(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    port = int(credentials.url.rsplit(":", 1)[1])
    config_path = write_config(
        tmp_path, "run-outage", extra="stopping: {new_labels_per_cycle: 4}\n"
    )
    exe = str(Path(sys.executable).parent / "labelloop")
    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    args = [exe, "run", "--config", str(config_path), "--workdir", str(workdir)]
    args += ["--poll", "1", "--max-cycles", "2", "--outage-timeout", "300"]
    stdout: list[str] = []
    stderr: list[str] = []

    def said(text: str, lines: list[str]) -> Callable[[], bool]:
        return lambda: any(text in line for line in lines)

    # Label Studio is restarting when `run` starts: the first open waits for it.
    stop_server(workdir)
    readers: list[threading.Thread] = []
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        readers += [_collect(process.stdout, stdout), _collect(process.stderr, stderr)]
        _wait_for(said("is unreachable (since", stderr), 120, "waiting message", [stderr])
        start_server(workdir, port=port, timeout_s=120)
        _wait_for(said("cycle 1", stdout), 300, "first cycle", [stdout, stderr])

        # A restart while `run` polls for labels.
        stop_server(workdir)
        down = time.monotonic()
        _wait_for(lambda: sum("is unreachable" in x for x in stderr) >= 2, 60, "outage", [stderr])
        time.sleep(max(0.0, 10 - (time.monotonic() - down)))
        start_server(workdir, port=port, timeout_s=120)

        config = load_config(config_path)
        state = StateStore(state_path(workdir, config))
        tasks = sorted(state.task_map().values())
        state.close()
        ls = sdk_client(credentials.url, credentials.api_key)
        try:
            for k, task in enumerate(tasks[:6]):
                ls.annotations.create(id=task, result=choice("sports" if k % 2 else "tech"))
        finally:
            ls._labelloop_http.close()
        _wait_for(lambda: process.poll() is not None, 300, "end of run", [stdout, stderr])
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for thread in readers:
            thread.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if not server_status(workdir)[1]:
            start_server(workdir, port=port, timeout_s=120)
    output = "\n".join(stdout + stderr)
    assert process.returncode == 0, output[-3000:]
    assert sum("is back after" in line and "resuming" in line for line in stderr) == 2, output
    assert any(line.startswith("cycle 2") for line in stdout), output
    assert not any(line.startswith("error:") for line in stderr), output

    state = StateStore(state_path(workdir, load_config(config_path)))
    try:
        cycles = state.cycles()
        task_map = state.task_map()
    finally:
        state.close()
    assert [c["status"] for c in cycles] == ["pushed", "pushed"]
    ls = sdk_client(credentials.url, credentials.api_key)
    try:
        project_id = {p.title: p.id for p in ls.projects.list()}["labelloop: run-outage"]
        items = [
            str(t.data["item_id"])
            for t in ls.tasks.list(project=project_id, fields="task_only", page_size=500)
        ]
    finally:
        ls._labelloop_http.close()
    assert len(items) == len(set(items)) == len(task_map)  # no task pushed twice

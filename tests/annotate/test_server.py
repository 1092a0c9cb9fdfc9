"""`server stop` signals only the Label Studio it started, never a process that took its id."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from labelloop.annotate.cli.main import main
from labelloop.annotate.labelstudio.server import (
    Credentials,
    ServerState,
    not_ours,
    server_status,
    stop_server,
)


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process leading its own process group, as Label Studio did."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{process.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # until it has exec'd
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def record(workdir: Path, pid: int, port: int = 8080) -> Path:
    folder = workdir / "label-studio"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "server.json"
    path.write_text(
        json.dumps(
            {
                "pid": pid,
                "port": port,
                "url": f"http://127.0.0.1:{port}",
                "data_dir": str(folder / "data"),
                "log_file": str(folder / "server.log"),
            }
        )
    )
    return path


def test_a_reused_pid_is_not_signalled(tmp_path: Path, stranger: subprocess.Popen[bytes]) -> None:
    path = record(tmp_path, stranger.pid)
    report = stop_server(tmp_path, timeout_s=2)
    assert not report.stopped
    assert report.message.startswith(f"pid {stranger.pid} is 'sleep 60', not Label Studio")
    assert "signalled nothing" in report.message and "\n" not in report.message
    assert stranger.poll() is None  # still running
    assert not path.exists()  # the stale record is gone


def test_the_command_says_so_in_one_line(tmp_path: Path, stranger: subprocess.Popen[bytes]) -> None:
    record(tmp_path, stranger.pid)
    result = CliRunner().invoke(main, ["server", "stop", "--workdir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1 and "signalled nothing" in result.stdout
    assert stranger.poll() is None


def test_a_gone_process_is_forgotten(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    path = record(tmp_path, gone.pid)
    assert stop_server(tmp_path) == stop_server(tmp_path)  # idempotent
    assert not path.exists()


def test_the_running_label_studio_is_ours(label_studio: tuple[Path, Credentials]) -> None:
    workdir, _ = label_studio
    state, running = server_status(workdir)
    assert state is not None and running
    assert state.started is not None
    assert not_ours(state) is None
    # the same command started at another time is not the recorded server
    assert not_ours(ServerState(**{**state.__dict__, "started": state.started - 1})) == (
        f"pid {state.pid} is a Label Studio started after the recorded one"
    )
    other_port = ServerState(**{**state.__dict__, "port": state.port + 1})
    assert (reason := not_ours(other_port)) is not None and "not Label Studio on port" in reason

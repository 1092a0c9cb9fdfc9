"""The real services of a chaos run: Label Studio (embedded) and an MLflow tracking server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from labelloop.annotate.labelstudio.server import (
    Credentials,
    free_port,
    server_status,
    start_server,
    stop_server,
)
from tests.chaos.gate import Gate

__all__ = ["LabelStudioService", "MlflowService"]


class LabelStudioService:
    """The embedded Label Studio of the chaos work dir, restarted on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.credentials: Credentials | None = None
        self.up = False

    def start(self) -> None:
        """Start (or restart) the server and wait until it answers."""
        _, self.credentials, _ = start_server(self.workdir, port=self.port, timeout_s=300)
        self.up = True

    def stop(self) -> None:
        """Stop the server by its process group."""
        stop_server(self.workdir)
        self.up = False

    def healthy(self) -> bool:
        """Whether the recorded server runs and answers ``/health``."""
        return server_status(self.workdir)[1]


class MlflowService:
    """An ``mlflow server`` on 127.0.0.1 over a SQLite store, behind a :class:`Gate`.

    The server runs for the whole chaos run; an outage closes the gate, so the tracking
    URI refuses connections (and cuts the ones in flight) until it opens again.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.gate = Gate(self.port)

    @property
    def uri(self) -> str:
        """The tracking URI the commands are given (the gate's)."""
        return f"http://127.0.0.1:{self.gate.port}"

    @property
    def server_uri(self) -> str:
        """The server itself, for the checks (never closed)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        """Whether the tracking URI answers now."""
        return self.gate.is_open

    def outage(self) -> None:
        """Make the tracking URI unreachable."""
        self.gate.close()

    def back(self) -> None:
        """End the outage."""
        self.gate.open()

    def start(self, timeout_s: float = 600.0) -> None:
        """Start the server, wait for ``/health``, open the gate."""
        self.root.mkdir(parents=True, exist_ok=True)
        mlflow = Path(sys.executable).parent / "mlflow"
        log = open(self.root / "mlflow-server.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [
                str(mlflow),
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # The server's job runner is a second busy process nobody here uses.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.server_uri}/health", timeout=5).status_code == 200:
                    self.gate.open()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"mlflow server did not answer on {self.uri} in {timeout_s:.0f} s")

    def stop(self) -> None:
        """Close the gate; stop the server's whole process group (SIGTERM, then SIGKILL)."""
        self.gate.close()
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None

"""The project lock: every command that changes a project's state holds it while it works.

``cycle``, ``run`` (while it pulls and cycles, not while it sleeps), ``demo``, ``push``,
``pull``, ``export`` (when it pulls) and ``accept-data`` take it, so two of them never
interleave their reads and writes. The lock file records who holds it (pid and command)
for the message a waiting command shows.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from labelloop.annotate.errors import ProjectBusyError

__all__ = ["ProjectLock", "lock_path", "project_lock"]

POLL_S = 0.2


def lock_path(workdir: Path, name: str) -> Path:
    """Return the lock file of project ``name`` in the work dir."""
    return workdir / "projects" / name / "cycle.lock"


class ProjectLock:
    """An exclusive lock on one project, held by one command of one process.

    Parameters
    ----------
    workdir : Path
        The work dir.
    name : str
        The project's name.
    command : str
        The command taking it (shown to whoever waits).
    notify : callable or None
        Called once with a line for people when the lock is busy and we wait.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> lock = ProjectLock(pathlib.Path(tempfile.mkdtemp()), "demo", "push")
    >>> lock.acquire(wait_s=0)
    >>> lock.holder()["command"]
    'push'
    >>> lock.release()
    """

    def __init__(
        self,
        workdir: Path,
        name: str,
        command: str,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.path = lock_path(workdir, name)
        self.name = name
        self.command = command
        self.notify = notify
        self._handle: IO[str] | None = None

    def holder(self) -> dict[str, object]:
        """Return who holds the lock now (``pid``, ``command``); empty when unknown."""
        try:
            text = self.path.read_text()
        except OSError:
            return {}
        try:
            found = json.loads(text)
        except ValueError:  # written by an older labelloop: only a pid
            return {"pid": text.strip(), "command": "?"} if text.strip() else {}
        return dict(found) if isinstance(found, dict) else {}

    def acquire(self, wait_s: float | None) -> None:
        """Take the lock, waiting up to ``wait_s`` seconds (None: as long as it takes).

        Raises
        ------
        ProjectBusyError
            When another process still holds it after ``wait_s`` seconds.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened without truncating: the holder's record stays readable while we wait.
        handle = open(self.path, "a+")  # noqa: SIM115 (held across calls, closed in release)
        deadline = None if wait_s is None else time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = self._describe(self.holder())
                if deadline is not None and time.monotonic() >= deadline:
                    handle.close()
                    waited = f" after waiting {wait_s:g} s" if wait_s else ""
                    raise ProjectBusyError(
                        f"project {self.name!r} is busy: {who} holds its lock{waited} "
                        f"({self.path}); try again when it is done"
                    ) from None
                if not told and self.notify is not None and wait_s != 0:
                    limit = "" if wait_s is None else f" (up to {wait_s:g} s)"
                    self.notify(f"waiting for the project lock held by {who}{limit} ...")
                    told = True
                time.sleep(POLL_S)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "command": self.command}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let the lock go (the file stays; an unlocked file means nobody holds it)."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def sleep_unlocked(self, seconds: float) -> None:
        """Sleep with the lock released (others may work meanwhile), then take it back."""
        self.release()
        time.sleep(seconds)
        self.acquire(wait_s=None)

    @staticmethod
    def _describe(holder: dict[str, object]) -> str:
        if not holder:
            return "another process"
        return f"pid {holder.get('pid')} ({holder.get('command')})"


@contextmanager
def project_lock(
    workdir: Path,
    name: str,
    command: str = "cycle",
    *,
    wait_s: float | None = 0,
    notify: Callable[[str], None] | None = None,
) -> Iterator[ProjectLock]:
    """Hold the project's lock for the ``with`` block (see :class:`ProjectLock`).

    Raises
    ------
    ProjectBusyError
        When another process holds it for longer than ``wait_s`` seconds.
    """
    lock = ProjectLock(workdir, name, command, notify)
    lock.acquire(wait_s)
    try:
        yield lock
    finally:
        lock.release()

"""The project lock: held by cycle, run and demo, so two cycles never overlap."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labelloop.annotate.errors import ProjectBusyError

__all__ = ["project_lock"]


@contextmanager
def project_lock(workdir: Path, name: str) -> Iterator[None]:
    """Hold the project's cycle lock: two cycles never run at once."""
    path = workdir / "projects" / name / "cycle.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProjectBusyError(f"another cycle of {name!r} is running (lock {path})") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield

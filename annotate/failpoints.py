"""Failpoints: the crash-safety tests kill labelloop exactly where a power cut could."""

from __future__ import annotations

import os
import signal

__all__ = ["failpoint"]


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL when ``$LABELLOOP_FAILPOINT`` names this point.

    Used by the crash-safety tests to die inside a phase exactly as a power cut would.
    """
    if os.environ.get("LABELLOOP_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)

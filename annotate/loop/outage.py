"""Waiting out an outage: retry a step while a service it needs cannot be reached."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from labelloop.annotate.errors import ServiceUnavailableError

__all__ = ["RETRY_EVERY_S", "outlast"]

T = TypeVar("T")
RETRY_EVERY_S = 5.0


def outlast(
    step: Callable[[], T],
    *,
    timeout_s: float,
    say: Callable[[str], None],
    every_s: float = RETRY_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``step``; while it raises :class:`ServiceUnavailableError`, wait and run it again.

    The step must be safe to rerun from the start (a cycle is: it resumes where it
    stopped). ``say`` gets one line when the outage starts and one when it ends. An
    outage longer than ``timeout_s`` ends the wait: the error is raised, in one line.

    Parameters
    ----------
    step : callable
        The work to do, rerun whole after each failure.
    timeout_s : float
        How long one outage may last before giving up.
    say : callable
        Takes the lines for people (``run`` prints them on stderr).
    every_s : float
        Seconds between tries.
    clock, sleep : callable
        The monotonic clock and the sleep to use (for tests).

    Returns
    -------
    What ``step`` returned.

    Raises
    ------
    ServiceUnavailableError
        If the service is still unreachable after ``timeout_s`` seconds.

    Examples
    --------
    >>> from labelloop.annotate.errors import ServiceUnavailableError
    >>> tries = []
    >>> def step():
    ...     tries.append(1)
    ...     if len(tries) < 3:
    ...         raise ServiceUnavailableError("no answer")
    ...     return "done"
    >>> outlast(step, timeout_s=60, say=lambda line: None, sleep=lambda s: None)
    'done'
    >>> len(tries)
    3
    """
    since: float | None = None
    service = ""
    while True:
        try:
            result = step()
        except ServiceUnavailableError as exc:
            now, service = clock(), exc.service
            if since is None:
                since = now
                say(
                    f"{exc.service} is unreachable (since {datetime.now():%H:%M:%S}); "
                    f"retrying every {every_s:g} s, giving up after {timeout_s:g} s"
                )
            if now - since >= timeout_s:
                error = ServiceUnavailableError(
                    f"{service} still unreachable after {now - since:.0f} s, gave up "
                    f"(outage timeout {timeout_s:g} s): {exc}"
                )
                error.service = service
                raise error from None
            sleep(every_s)
            continue
        if since is not None:
            say(f"{service} is back after {clock() - since:.0f} s; resuming")
        return result

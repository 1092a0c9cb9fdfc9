"""What every command shares: one-line errors, the work dir option, opening a project."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from labelloop.annotate.loop.project import LabellingProject

__all__ = [
    "config_option",
    "lock_wait_s",
    "one_line_errors",
    "open_project",
    "say_on_stderr",
    "take_project_lock",
    "workdir_option",
]

F = TypeVar("F", bound=Callable[..., Any])

workdir_option = click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Work dir (default $LABELLOOP_WORKDIR or ./work).",
)

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Project YAML (see `labelloop init`).",
)


def one_line_errors(command: F) -> F:
    """Print a :class:`LabelloopError` as ``error: ...`` on stderr and exit 1.

    Only labelloop's own error tree is caught: anything else is a bug and keeps its
    traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from labelloop.datasets._errors import LabelloopError

        try:
            return command(*args, **kwargs)
        except LabelloopError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def lock_wait_s() -> float:
    """Seconds a command waits for a busy project lock: ``$LABELLOOP_LOCK_WAIT`` or 60."""
    from labelloop.annotate.errors import ConfigError

    raw = os.environ.get("LABELLOOP_LOCK_WAIT", "60")
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"LABELLOOP_LOCK_WAIT={raw!r}: give seconds, e.g. 60") from None
    if not seconds >= 0:
        raise ConfigError(f"LABELLOOP_LOCK_WAIT={raw!r}: give seconds, 0 or more")
    return seconds


def say_on_stderr(line: str) -> None:
    """Print a line for people on stderr (progress and waiting messages)."""
    click.echo(line, err=True)


def take_project_lock(workdir: Path, name: str, command: str) -> None:
    """Hold the project lock until the command ends, waiting ``lock_wait_s()`` at most.

    Raises
    ------
    ProjectBusyError
        When another command still holds it after the wait.
    """
    from labelloop.annotate.loop.lock import ProjectLock

    lock = ProjectLock(workdir, name, command, say_on_stderr)
    lock.acquire(lock_wait_s())
    click.get_current_context().call_on_close(lock.release)


def open_project(
    config_path: Path, workdir: Path | None, *, lock: str | None = None
) -> LabellingProject:
    """Load the config and its pool, connect to Label Studio, open the state store.

    With ``lock`` (the command's name) the project lock is taken first and held until
    the command ends. The project is closed when the command ends.
    """
    from labelloop.annotate.config.schema import load_config
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.loop.features import load_project_pool
    from labelloop.annotate.loop.project import open_project as open_labelling_project

    config = load_config(config_path)
    folder = resolve_workdir(workdir)
    if lock is not None:
        take_project_lock(folder, config.name, lock)
    from labelloop.annotate.loop.scale import is_partitioned

    # A partitioned pool is never loaded whole: the project reads its working set.
    pool = None if is_partitioned(config) else load_project_pool(config)
    opened = open_labelling_project(config, pool, folder, config_file=config_path)
    click.get_current_context().call_on_close(opened.close)
    if opened.added_items:
        where = (
            f"Label Studio project {opened.project_id}" if opened.adopted else config.data.source
        )
        say_on_stderr(f"note: {opened.added_items} new item(s) in {where} joined the pool")
    if opened.left_out:
        say_on_stderr(f"note: new tasks in project {opened.project_id}: {opened.left_out}")
    return opened


def project_matrix(opened: LabellingProject) -> Any:
    """Return the project's features: the working set's for a partitioned pool."""
    if opened.working is not None:
        return opened.working.X
    from labelloop.annotate.loop.features import default_cache_dir, project_features

    return project_features(opened.config, opened.pool, default_cache_dir(opened.workdir))

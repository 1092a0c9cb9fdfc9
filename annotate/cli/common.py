"""What every command shares: one-line errors, the work dir option, opening a project."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from labelloop.annotate.loop.project import LabellingProject

__all__ = ["config_option", "one_line_errors", "open_project", "workdir_option"]

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


def open_project(config_path: Path, workdir: Path | None) -> LabellingProject:
    """Load the config and its pool, connect to Label Studio, open the state store.

    The project is closed when the command ends.
    """
    from labelloop.annotate.config.schema import load_config
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.loop.features import load_project_pool
    from labelloop.annotate.loop.project import open_project as open_labelling_project

    config = load_config(config_path)
    pool = load_project_pool(config)
    opened = open_labelling_project(config, pool, resolve_workdir(workdir))
    click.get_current_context().call_on_close(opened.close)
    return opened

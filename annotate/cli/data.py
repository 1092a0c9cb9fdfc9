"""The command that accepts a changed data file."""

from __future__ import annotations

from pathlib import Path

import click

from labelloop.annotate.cli.common import (
    config_option,
    one_line_errors,
    take_project_lock,
    workdir_option,
)

__all__ = ["accept_data"]


@click.command("accept-data")
@config_option
@workdir_option
@one_line_errors
def accept_data(config_path: Path, workdir: Path | None) -> None:
    """Accept a changed data file: changed items go back to people.

    Changed items' labels are kept as history, no longer trained on or exported, and
    the items can be picked again (their old Label Studio tasks stay but no longer
    count). Removed items' labels are kept as history; added items join the pool.
    Label Studio is not needed.

    \b
    Example:
      labelloop accept-data --config configs/my_project.yaml
    """
    from labelloop.annotate.config.schema import load_config
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.errors import ConfigError
    from labelloop.annotate.loop.data_change import accept_data as accept
    from labelloop.annotate.loop.features import load_project_pool
    from labelloop.annotate.loop.project import state_path
    from labelloop.annotate.loop.scale import accept_partitioned, is_partitioned
    from labelloop.annotate.state.store import StateStore

    config = load_config(config_path)
    folder = resolve_workdir(workdir)
    path = state_path(folder, config)
    if not path.is_file():
        raise ConfigError(f"{config_path}: project {config.name!r} has no state in {folder} yet")
    take_project_lock(folder, config.name, "accept-data")
    partitioned = is_partitioned(config)
    pool = None if partitioned else load_project_pool(config)
    state = StateStore(path)
    try:
        accepted = accept_partitioned(config, state) if pool is None else accept(state, pool)
    finally:
        state.close()
    change = accepted.change
    if not (change.changed or change.added or change.removed):
        click.echo(f"{config.data.source}: nothing changed, nothing to accept")
        return
    click.echo(
        f"accepted {config.data.source}: {change.summary()}; "
        f"{accepted.retired_labels} annotation(s) kept as history, no longer used; "
        f"{len(change.changed)} item(s) go back to people"
    )

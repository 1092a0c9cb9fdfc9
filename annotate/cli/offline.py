"""Commands that need no server: init, simulate, strategies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labelloop.annotate.cli.common import one_line_errors

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["init", "list_strategies", "simulate"]


@click.command()
@click.argument("name")
@click.option(
    "--data",
    "data",
    default=None,
    type=click.Path(path_type=Path),
    help="CSV, Parquet or JSONL file, or a directory or glob of Parquet files.",
)
@click.option(
    "--label-studio-project",
    "ls_project",
    default=None,
    type=click.IntRange(1),
    help="Adopt an existing Label Studio project: its tasks are the pool, labelled in place.",
)
@click.option(
    "--workdir",
    default=None,
    type=click.Path(path_type=Path),
    help="Work dir whose Label Studio server to use (with --label-studio-project; "
    "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY win when set).",
)
@click.option(
    "--label-column",
    default=None,
    help="Column of gold labels (may be partly empty); needed with --data.",
)
@click.option("--text-column", default=None, help="Column of item texts.")
@click.option(
    "--feature-columns",
    default=None,
    help="Comma-separated feature columns: numbers, or categories (one-hot encoded).",
)
@click.option(
    "--categorical-columns",
    default=None,
    help="Comma-separated feature columns of categories (one-hot encoded), numbers included.",
)
@click.option(
    "--id-column", default=None, help="Column of unique item ids (else inferred or generated)."
)
@click.option(
    "--configs-dir", default="configs", type=click.Path(path_type=Path), show_default=True
)
@click.option("--force", is_flag=True, help="Replace an existing config.")
@one_line_errors
def init(
    name: str,
    data: Path | None,
    ls_project: int | None,
    workdir: Path | None,
    label_column: str | None,
    text_column: str | None,
    feature_columns: str | None,
    categorical_columns: str | None,
    id_column: str | None,
    configs_dir: Path,
    force: bool,
) -> None:
    """Write configs/NAME.yaml for a data file, or for an existing Label Studio project.

    With --data, columns are inferred where they are not given. With
    --label-studio-project, the project's tasks become the pool (text, image or table
    tasks with a <Choices> tag); its annotations are labels, and new picks are ranked
    in its queue, never imported again.

    \b
    Examples:
      labelloop init reviews --data reviews.csv --label-column sentiment --text-column body
      labelloop init tickets --label-studio-project 42
    """
    from labelloop.annotate.config.writer import write_config

    if (data is None) == (ls_project is None):
        raise click.UsageError("give --data FILE or --label-studio-project ID (one of them)")
    if ls_project is not None:
        given = [
            flag
            for flag, value in (
                ("--label-column", label_column),
                ("--text-column", text_column),
                ("--feature-columns", feature_columns),
                ("--categorical-columns", categorical_columns),
                ("--id-column", id_column),
            )
            if value
        ]
        if given:
            raise click.UsageError(
                f"{given[0]} is for --data; a Label Studio project's labeling config says "
                "what its tasks hold"
            )
        _adopt(name, ls_project, workdir, configs_dir, force)
        return
    if label_column is None:
        raise click.UsageError("--data needs --label-column")
    assert data is not None
    if text_column and (feature_columns or categorical_columns):
        raise click.UsageError("give --text-column or feature columns, not both")
    features = (
        tuple(c.strip() for c in feature_columns.split(",") if c.strip()) if feature_columns else ()
    )
    categories = (
        tuple(c.strip() for c in categorical_columns.split(",") if c.strip())
        if categorical_columns
        else ()
    )
    written = write_config(
        name,
        data,
        label_column=label_column,
        text_column=text_column,
        feature_columns=features,
        id_column=id_column,
        configs_dir=configs_dir,
        force=force,
        categorical_columns=categories,
    )
    pool, n_items, classes = written.pool, written.n_items, written.classes
    count = len(pool.feature_columns)
    columns = f"{count} feature column{'' if count == 1 else 's'}"
    if pool.text_column:
        kind = f"text column {pool.text_column!r}"
    elif pool.categorical_columns:
        kind = (
            f"{columns} ({len(pool.numeric_columns)} numeric, "
            f"{len(pool.categorical_columns)} of categories: "
            f"{_listed(pool.categorical_columns)})"
        )
    else:
        kind = columns
    if written.filled:
        kind += f", gaps filled by the median in {_listed(written.filled)}"
    shown = ", ".join(classes[:8])
    sampled = f" (columns read from {len(pool):,} sampled rows)" if len(pool) < n_items else ""
    ids = (
        f"ids from {written.id_column!r}"
        if written.id_column
        else "ids made from each row's content"
    )
    click.echo(
        f"wrote {written.path}: {n_items:,} items{sampled}, {kind}, "
        f"{len(classes)} classes ({shown}); {ids}"
    )
    if written.left_out:
        reasons = "; ".join(f"{c} ({why})" for c, why in list(written.left_out.items())[:6])
        more = len(written.left_out) - 6
        click.echo(
            f"left out: {reasons}{f'; {more} more' if more > 0 else ''}. "
            "Choose columns yourself with --text-column, --feature-columns or "
            "--categorical-columns."
        )
    if written.codes:
        click.echo(
            f"read as numbers: {_listed(written.codes)} (a few whole numbers each); if they "
            "are codes, not amounts, name them with --categorical-columns."
        )


def _listed(columns: tuple[str, ...], shown: int = 5) -> str:
    """Return up to ``shown`` column names, then how many more."""
    more = len(columns) - shown
    return ", ".join(columns[:shown]) + (f" and {more} more" if more > 0 else "")


def _adopt(
    name: str, project_id: int, workdir: Path | None, configs_dir: Path, force: bool
) -> None:
    """``init --label-studio-project``: write the config and the tasks' copy."""
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.labelstudio.client import connect
    from labelloop.annotate.loop.adopted import adopt_project

    gateway = connect(resolve_workdir(workdir))
    try:
        adopted = adopt_project(gateway, project_id, name, configs_dir=configs_dir, force=force)
    finally:
        gateway.close()
    shape = adopted.shape
    what = {
        "text": f"text from ${shape.field}",
        "image": f"images from ${shape.field} (grey 16x16 thumbnails as features)",
        "tabular": f"{len(adopted.columns)} numeric columns from ${shape.field}",
    }[shape.kind]
    click.echo(
        f"wrote {adopted.config_path}: Label Studio project {project_id} "
        f"({' '.join(adopted.title.split())}), {len(adopted.rows.rows)} tasks, {what}, "
        f"{len(shape.labels)} labels ({', '.join(shape.labels[:8])}"
        f"{', ...' if len(shape.labels) > 8 else ''}) on "
        f"<Choices name={shape.from_name!r}>"
    )
    if adopted.rows.left_out:
        click.echo(f"note: {adopted.rows.summary()}", err=True)


class _ShareOrAuto(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.4 on
    """``auto`` or a share in [0, 1)."""

    name = "share|auto"

    def convert(self, value: Any, param: Any, ctx: Any) -> float | str:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            share = float(value)
        except (TypeError, ValueError):
            share = -1.0
        if not 0.0 <= share < 1.0:
            self.fail(f"{value!r} is neither a share in [0, 1) nor auto", param, ctx)
        return share


_SHARE_OR_AUTO = _ShareOrAuto()


@click.command()
@click.option(
    "--config", "config_path", required=True, type=click.Path(path_type=Path), help="Project YAML."
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder."
)
@click.option(
    "--strategies",
    default="margin,random",
    show_default=True,
    help="Comma-separated strategy names (see `labelloop strategies`).",
)
@click.option(
    "--seeds", default=3, show_default=True, type=click.IntRange(1, 100), help="Number of seeds."
)
@click.option(
    "--budget", default=None, type=click.IntRange(1), help="Override the config's label budget."
)
@click.option(
    "--batch-size", default=None, type=click.IntRange(1), help="Override the config's batch size."
)
@click.option(
    "--eval-size",
    default=None,
    type=click.FloatRange(0, min_open=True),
    help="Override the evaluation set size (share < 1, or a count).",
)
@click.option(
    "--exploration",
    default=None,
    type=_SHARE_OR_AUTO,
    help="Override the config's share of each batch drawn at random: a share in [0, 1) "
    "(0: the strategy alone) or auto (twice the model's overconfidence, at most 0.5).",
)
@click.option(
    "--routing",
    is_flag=True,
    help="Simulate human in the loop: machine labels under the config's routing section.",
)
@click.option(
    "--stream",
    is_flag=True,
    help="Stream a partitioned pool at every step even if memory could hold it "
    "(as `cycle` does; automatic when it cannot).",
)
@one_line_errors
def simulate(
    config_path: Path,
    out_dir: Path,
    strategies: str,
    seeds: int,
    budget: int | None,
    batch_size: int | None,
    eval_size: float | None,
    exploration: float | str | None,
    routing: bool,
    stream: bool,
) -> None:
    """Run the loop with the gold labels as the annotator; compare strategies.

    Writes OUT/curves.json, OUT/summary.json and OUT/curves.png and prints the summary.
    With --routing it simulates human in the loop instead: people label the evaluation
    set, the strategy's batches and the audits; the machine labels what the thresholds
    allow; the machine labels are checked against the gold labels. Writes
    OUT/routing.json and OUT/routing.png.

    A directory or glob of Parquet files that memory cannot hold whole (or any, with
    --stream) is streamed: each step scores the whole pool as `cycle` does, and only
    the labelled rows, the evaluation set, the stop set and the samples the cold start
    and the ceiling are drawn from are kept in memory.

    \b
    Examples:
      labelloop simulate --config configs/digits.yaml --out runs/digits \\
          --strategies margin,entropy,random --seeds 5
      labelloop simulate --config configs/bbc_news.yaml --out runs/bbc-routing \\
          --routing --strategies margin --seeds 3
    """
    from labelloop.annotate.config.schema import load_config
    from labelloop.annotate.simulation.curves import load_simulation_pool, run_simulations
    from labelloop.learners import STRATEGIES

    config = load_config(config_path)
    updates: dict[str, Any] = {}
    if budget is not None:
        updates["budget"] = budget
    if batch_size is not None:
        updates["batch_size"] = batch_size
    if eval_size is not None:
        updates["evaluation"] = config.evaluation.model_copy(update={"size": eval_size})
    if exploration is not None:
        updates["exploration"] = exploration
    config = config.model_copy(update=updates)
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    for name in names:
        if name not in STRATEGIES:
            raise click.BadParameter(
                f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}",
                param_hint="--strategies",
            )
    seed_list = [config.seed + k for k in range(seeds)]
    if _streams(config, stream, routing):
        _simulate_streamed(config, names, seed_list, out_dir)
        return
    pool = load_simulation_pool(config)  # bad data fails here, before any output
    if routing:
        _simulate_routing(config, pool, names, seed_list, out_dir)
        return
    from labelloop.annotate.loop.features import project_features

    project_features(config, pool)  # cached now, with its own progress bar (embeddings)
    with _progress_bar() as bar:
        report = run_simulations(config, names, seed_list, progress=_BarProgress(bar), pool=pool)
    _show_simulation(report, out_dir)


def _progress_bar() -> Any:
    """Return the simulation's progress bar, on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def _show_simulation(report: Any, out_dir: Path) -> None:
    """Write the simulation's files, print its summary table and where the files are."""
    from rich.console import Console

    from labelloop.annotate.reporting.files import write_simulation
    from labelloop.annotate.reporting.tables import summary_table

    paths = write_simulation(report, out_dir)
    out = Console()
    if not out.is_terminal:
        out = Console(width=150)
    out.print(summary_table(report))
    _say_exploration(list(report.summary), report.exploration, report.summary)
    click.echo(f"wrote {paths['curves']}, {paths['summary']}, {paths['plot']}")


def _streams(config: Any, stream: bool, routing: bool) -> bool:
    """Whether simulate streams the pool; refuses what a streamed pool cannot do."""
    from labelloop.annotate.errors import ConfigError
    from labelloop.annotate.loop.scale import is_partitioned
    from labelloop.datasets import fits_whole

    if not is_partitioned(config):
        if stream:
            raise ConfigError(
                f"--stream: {config.data.source} is not a directory or glob of Parquet files"
            )
        return False
    if not stream and fits_whole(config.data_path()):
        return False
    if routing:
        why = "drop --stream" if stream else "memory cannot hold it; simulate on some of its files"
        raise ConfigError(
            f"--routing: simulating human in the loop reads {config.data.source} whole ({why})"
        )
    return True


def _simulate_streamed(config: Any, names: list[str], seeds: list[int], out_dir: Path) -> None:
    from labelloop.annotate.loop.features import default_cache_dir
    from labelloop.annotate.loop.scale import COLD_START_SAMPLE
    from labelloop.annotate.simulation.streamed import (
        CEILING_SAMPLE,
        open_streamed,
        run_streamed_simulations,
    )

    cache = default_cache_dir() / "partitions"
    pool = open_streamed(config, names, cache)  # bad ids and labels fail here, before output
    click.echo(
        f"streaming {config.data.source}: each step scores the whole pool "
        f"({config.scoring.engine}); the cold start runs on a random sample of at least "
        f"{COLD_START_SAMPLE:,} rows and the full-pool ceiling is trained on at most "
        f"{CEILING_SAMPLE:,}",
        err=True,
    )
    with _progress_bar() as bar:
        report = run_streamed_simulations(
            config,
            names,
            seeds,
            pool=pool,
            progress=_BarProgress(bar),
            cache_dir=cache,
        )
    _show_simulation(report, out_dir)


def _simulate_routing(
    config: Any, pool: Any, names: list[str], seeds: list[int], out_dir: Path
) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from labelloop.annotate.config.rules import check_routing
    from labelloop.annotate.loop.stopping import evaluation_positions
    from labelloop.annotate.reporting.files import write_routing
    from labelloop.annotate.reporting.tables import routing_simulation_table
    from labelloop.annotate.simulation.curves import expected_steps
    from labelloop.annotate.simulation.routing import routing_rows, run_routing

    check_routing(config, pool, pool.classes)
    n_eval = evaluation_positions(config, len(pool), seeds[0]).size
    per_run = 1 + expected_steps(  # routing records the pool once more, after the last batch
        len(pool) - n_eval,
        config.budget,
        config.initial_size or config.batch_size,
        config.batch_size,
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("computing features", total=per_run * len(names) * len(seeds))
        runs = run_routing(
            config,
            pool,
            names,
            seeds,
            on_step=lambda _: bar.advance(task),
            on_run=lambda name, seed: bar.update(task, description=f"{name:<22} seed {seed}"),
        )
    rows = routing_rows(runs, config.routing.target_precision)
    paths = write_routing(
        runs, rows, out_dir, config.routing.target_precision, exploration=config.exploration
    )
    out = Console()
    if not out.is_terminal:
        out = Console(width=170)
    out.print(routing_simulation_table(config, rows))
    _say_exploration(names, config.exploration)
    click.echo(f"wrote {paths['json']}, {paths['plot']}")


def _say_exploration(
    names: list[str], share: float | str, summary: dict[str, Any] | None = None
) -> None:
    """One line saying which strategies drew a share of each batch at random.

    With ``auto`` and a simulation's ``summary``, it says how much each drew.
    """
    from labelloop.learners import STRATEGIES

    explored = [name for name in names if STRATEGIES[name].needs_model]
    if not explored:
        return
    if share == "auto":
        drawn = ""
        if summary is not None:
            shares = ", ".join(f"{name} {summary[name]['explored']:.0%}" for name in explored)
            drawn = f"; drawn at random after the first model: {shares}"
        click.echo(
            f"{', '.join(explored)}: part of each batch drawn at random once a model exists, "
            "twice as large as the model's overconfidence on the evaluation set, at most "
            f"half (exploration: auto){drawn}; --exploration 0 for the strategy alone"
        )
    elif float(share) > 0:
        click.echo(
            f"{', '.join(explored)}: {float(share) * 100:g}% of each batch drawn at random "
            f"once a model exists (exploration: {share:g}); --exploration 0 for the strategy "
            "alone"
        )


class _BarProgress:
    """Shows a simulation's progress as one rich progress bar (on stderr)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task = bar.add_task("computing features", total=None)

    def start(self, total_steps: int) -> None:
        self.bar.update(self.task, total=total_steps, completed=0)

    def run(self, strategy: str, seed: int) -> None:
        self.bar.update(self.task, description=f"{strategy:<22} seed {seed}")

    def step(self, point: Any) -> None:
        self.bar.advance(self.task)


@click.command("strategies")
def list_strategies() -> None:
    """List the acquisition strategies."""
    from labelloop.learners import STRATEGIES

    for strategy in STRATEGIES.values():
        click.echo(f"{strategy.name:<24} {strategy.summary}")

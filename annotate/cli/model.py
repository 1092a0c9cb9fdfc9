"""Commands that use the registered model: predict."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from labelloop.annotate.cli.common import config_option, one_line_errors, workdir_option

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["predict"]

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}


@click.command()
@config_option
@click.option(
    "--model",
    "which",
    default="champion",
    show_default=True,
    help="champion (the best so far), challenger (the newest) or a version number.",
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV, Parquet or JSONL file of raw rows (the columns the config names).",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the scores (.csv, .parquet or .jsonl).",
)
@click.option(
    "--id-column",
    default=None,
    help="Column of item ids (default: the config's data.id_column; else ids from content).",
)
@click.option("--chunk-size", default=5_000, show_default=True, type=click.IntRange(1))
@workdir_option
@one_line_errors
def predict(
    config_path: Path,
    which: str,
    data_path: Path,
    out_path: Path,
    id_column: str | None,
    chunk_size: int,
    workdir: Path | None,
) -> None:
    """Score a file of raw rows with a registered model of the project.

    Writes, per row: the item id, the predicted label, its confidence and every
    label's probability (columns p_<label>).

    \b
    Example:
      labelloop predict --config configs/bbc_news.yaml --data new.csv --out scores.csv
    """
    suffix = out_path.suffix.lower()
    if suffix not in _FORMATS:
        raise click.BadParameter(f"{out_path}: write .csv, .parquet or .jsonl", param_hint="--out")
    from labelloop.annotate.config.schema import load_config
    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.loop.tracking import Tracker

    config = load_config(config_path)
    tracker = Tracker(resolve_workdir(workdir), config.name)
    uri = tracker.model_uri(which)
    model = tracker.load_model(uri)
    inputs: dict[str, str] = dict(model.model_config["inputs"])
    text = str(model.model_config["featurizer"].get("kind")) != "numeric"
    rows = _read_rows(
        data_path,
        inputs,
        id_column or config.data.id_column,
        text=text,
        missing_numbers=config.data.missing_numbers,
    )

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from labelloop.annotate.loop.scoring import score_frame
    from labelloop.annotate.reporting.export import write_export

    console = Console(stderr=True)
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("score", total=len(rows))
        scores = score_frame(
            model, rows, chunk_size=chunk_size, on_chunk=lambda n: bar.advance(task, n)
        )
    write_export(scores, out_path, _FORMATS[suffix])  # type: ignore[arg-type]
    counts = scores["predicted"].value_counts()
    spread = ", ".join(f"{label} {n}" for label, n in counts.items())
    click.echo(
        f"scored {len(scores)} rows with {uri} -> {out_path}; "
        f"mean confidence {scores['confidence'].mean():.3f}; predicted: {spread}"
    )


def _read_rows(
    path: Path,
    inputs: dict[str, str],
    id_column: str | None,
    *,
    text: bool,
    missing_numbers: str = "refuse",
) -> pd.DataFrame:
    """Read and check a data file as ``init`` does; return its model inputs by item id.

    A text model takes one string column; a model of features takes numbers
    (``double``) and categories (``string``).
    """
    from labelloop.annotate.loop.packaging import raw_rows
    from labelloop.datasets import load_pool

    strings = [c for c, kind in inputs.items() if kind == "string"]
    pool = load_pool(
        path,
        id_column=id_column,
        text_column=strings[0] if text else None,
        feature_columns=[c for c, kind in inputs.items() if kind != "string"],
        categorical_columns=() if text else strings,
        missing_numbers=missing_numbers,
    )
    return raw_rows(pool, inputs, pool.ids)

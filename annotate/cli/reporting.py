"""Commands that show a project: status, report, export, the MLflow UI."""

from __future__ import annotations

from pathlib import Path

import click

from labelloop.annotate.cli.common import (
    config_option,
    one_line_errors,
    open_project,
    workdir_option,
)

__all__ = ["export", "report", "status", "ui"]


@click.command()
@config_option
@workdir_option
@one_line_errors
def status(config_path: Path, workdir: Path | None) -> None:
    """Show labels so far, class balance, agreement, queue, last metrics, stop verdict."""
    from labelloop.annotate.reporting.status import status_tables

    opened = open_project(config_path, workdir)
    from rich.console import Console

    console = Console(width=120)
    for table in status_tables(opened):
        console.print(table)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="A project config (live project).",
)
@click.option(
    "--simulation",
    type=click.Path(path_type=Path),
    default=None,
    help="A `labelloop simulate` output folder.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=None,
    help="HTML file to write.",
)
@workdir_option
@one_line_errors
def report(
    config_path: Path | None,
    simulation: Path | None,
    out_path: Path | None,
    workdir: Path | None,
) -> None:
    """Write a self-contained HTML report of a project or of a simulation.

    
    Examples:
      labelloop report --config configs/demo.yaml --out report.html
      labelloop report --simulation runs/digits
    """
    from labelloop.annotate.errors import ConfigError
    from labelloop.annotate.reporting.html import project_report, simulation_report

    if (config_path is None) == (simulation is None):
        raise click.UsageError("give --config (a project) or --simulation (a folder), one of them")
    if simulation is not None:
        if not any((simulation / f).is_file() for f in ("summary.json", "routing.json")):
            raise ConfigError(
                f"{simulation}: no summary.json or routing.json here; "
                "run `labelloop simulate` first"
            )
        target = out_path or simulation / "report.html"
        target.write_text(simulation_report(simulation))
        click.echo(f"wrote {target}")
        return
    from labelloop.annotate.loop.tracking import Tracker

    assert config_path is not None
    opened = open_project(config_path, workdir)
    folder = opened.state.path.parents[2]
    tracker = Tracker(folder, opened.config.name)
    target = out_path or opened.state.path.parent / "report.html"
    target.write_text(project_report(opened, tracker.versions()))
    runs = [c["run_id"] for c in opened.state.cycles() if c["run_id"]]
    if runs:
        tracker.log_report(runs[-1], target)
    click.echo(f"wrote {target}" + (f" (also in MLflow run {runs[-1]})" if runs else ""))


@click.command()
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "jsonl"]),
    default=None,
    help="File format (default: from --out's suffix, else csv).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=None,
    help="File to write (default: the project folder's labels.FORMAT).",
)
@click.option("--no-machine", is_flag=True, help="Only labels given by people.")
@click.option(
    "--pull/--no-pull",
    default=True,
    show_default=True,
    help="Pull the latest labels from Label Studio first.",
)
@workdir_option
@one_line_errors
def export(
    config_path: Path,
    fmt: str | None,
    out_path: Path | None,
    no_machine: bool,
    pull: bool,
    workdir: Path | None,
) -> None:
    """Write the labelled dataset: item id, label, source, annotators, agreement, model.

    Source is `human` (one annotation), `consensus` (majority of two or more) or
    `machine` (labelled automatically under the routing thresholds).

    
    Examples:
      labelloop export --config configs/bbc_news.yaml --format parquet --out labels.parquet
      labelloop export --config configs/bbc_news.yaml --format csv --no-machine
    """
    from rich.console import Console
    from rich.table import Table

    from labelloop.annotate.errors import LabelloopError
    from labelloop.annotate.labelstudio.sync import pull_labels
    from labelloop.annotate.reporting.export import export_frame, write_export

    suffix = out_path.suffix.lower().lstrip(".") if out_path is not None else ""
    if fmt is None:
        fmt = suffix if suffix in ("csv", "parquet", "jsonl") else "csv"
    elif suffix in ("csv", "parquet", "jsonl") and suffix != fmt:
        raise click.UsageError(f"--out {out_path}: a .{suffix} file, but --format {fmt}")
    opened = open_project(config_path, workdir, lock="export" if pull else None)
    if pull:
        pull_labels(opened.gateway, opened.state, opened.project_id, opened.labels)
    frame, counts = export_frame(opened)
    if no_machine:
        frame = frame[frame["source"] != "machine"]
    target = out_path or opened.state.path.parent / f"labels.{fmt}"
    if target.is_dir():
        target = target / f"labels.{fmt}"
    try:
        write_export(frame, target, fmt)  # type: ignore[arg-type]
    except OSError as exc:
        raise LabelloopError(f"{target}: cannot write the export ({exc.strerror})") from None
    table = Table(title=f"exported {len(frame)} labelled item(s) to {target}")
    table.add_column("source")
    table.add_column("items", justify="right")
    table.add_column("mean confidence / agreement", justify="right")
    for source in ("human", "consensus", "machine"):
        part = frame[frame["source"] == source]
        column = "confidence" if source == "machine" else "agreement"
        mean = part[column].mean() if len(part) else float("nan")
        table.add_row(source, str(len(part)), "—" if len(part) == 0 else f"{mean:.3f}")
    Console(width=120).print(table)
    click.echo(
        f"not exported: {counts['tied']} tied item(s) held back, "
        f"{counts['waiting']} waiting in Label Studio"
    )


@click.command()
@workdir_option
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def ui(workdir: Path | None, port: int) -> None:
    """Open the MLflow UI on the work dir's store (127.0.0.1)."""
    import subprocess
    import sys

    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.loop.tracking import tracking_uri

    uri = tracking_uri(resolve_workdir(workdir))
    click.echo(f"MLflow UI on http://127.0.0.1:{port} (store {uri}); Ctrl-C to stop")
    mlflow = Path(sys.executable).parent / "mlflow"
    subprocess.run(
        [
            str(mlflow),
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        check=False,
    )

"""Command-line commands for the loop: cycle, run, status, ui."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from annotate._cli_labelstudio import Decorator, _open, _workdir_option

__all__ = ["register"]


@contextmanager
def cycle_lock(workdir: Path, name: str) -> Iterator[None]:
    """Hold the project's cycle lock: two cycles never run at once."""
    from annotate._errors import LabelloopError

    path = workdir / "projects" / name / "cycle.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabelloopError(f"another cycle of {name!r} is running (lock {path})") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _print_cycle(report: Any) -> None:
    metrics = report.metrics
    parts = [
        f"cycle {report.cycle}{' (resumed)' if report.resumed else ''}: {report.n_labels} labels"
    ]
    if "macro_f1" in metrics:
        parts.append(
            f"eval ({report.n_eval_labelled} items) acc {metrics['accuracy']:.3f} "
            f"macro-F1 {metrics['macro_f1']:.3f}"
        )
    if "kappa_previous" in metrics:
        parts.append(f"kappa {metrics['kappa_previous']:.3f}")
    if report.model_version:
        parts.append(f"model {report.model_version}{' (champion)' if report.champion else ''}")
    if report.routing is not None:
        counts, audit = report.routing["counts"], report.routing["audit"]
        state = " (SUSPENDED by audits)" if audit["suspended"] else ""
        parts.append(
            f"routes auto/review/human {counts['auto']}/{counts['review']}/{counts['human']}"
            + state
        )
    parts.append(f"pushed {report.pushed} ({report.batch_id or 'nothing left'})")
    parts.append(f"{sum(report.seconds.values()):.1f} s")
    click.echo("; ".join(parts))


def register(main: click.Group, one_line_errors: Decorator) -> None:
    """Add the loop commands to the ``labelloop`` group."""

    @main.command()
    @click.option("--config", "config_path", required=True, type=click.Path(path_type=Path))
    @_workdir_option
    @one_line_errors
    def cycle(config_path: Path, workdir: Path | None) -> None:
        r"""Run one cycle: pull, retrain, evaluate, log to MLflow, push the next batch.

        \b
        Example:
          labelloop cycle --config configs/bbc_news.yaml
        """
        from annotate._cycle import run_cycle
        from annotate._project import project_features
        from annotate._tracking import Tracker

        opened = _open(config_path, workdir)
        folder = opened.state.path.parents[2]
        with cycle_lock(folder, opened.config.name):
            X = project_features(opened.config, opened.pool)
            _print_cycle(run_cycle(opened, X, Tracker(folder, opened.config.name)))

    @main.command()
    @click.option("--config", "config_path", required=True, type=click.Path(path_type=Path))
    @click.option(
        "--poll", default=5.0, show_default=True, help="Seconds between checks for new labels."
    )
    @click.option(
        "--max-cycles", default=None, type=click.IntRange(1), help="Stop after this many cycles."
    )
    @click.option(
        "--idle-timeout",
        default=None,
        type=float,
        help="Stop after this many seconds without labels.",
    )
    @_workdir_option
    @one_line_errors
    def run(
        config_path: Path,
        poll: float,
        max_cycles: int | None,
        idle_timeout: float | None,
        workdir: Path | None,
    ) -> None:
        r"""Keep the loop going: a cycle whenever enough new labels have arrived.

        A cycle starts when `stopping.new_labels_per_cycle` new labels are in (found by
        polling Label Studio, or announced by `labelloop listen`), or when the queue of
        unlabelled tasks runs low. Stops when the stopping rule or the budget says so.

        \b
        Example:
          labelloop run --config configs/bbc_news.yaml --poll 10
        """
        from annotate._cycle import run_cycle, stop_verdict
        from annotate._ls_sync import pull_labels
        from annotate._project import project_features
        from annotate._tracking import Tracker

        opened = _open(config_path, workdir)
        folder = opened.state.path.parents[2]
        X = project_features(opened.config, opened.pool)
        tracker = Tracker(folder, opened.config.name)
        done = 0
        last_activity = time.monotonic()
        with cycle_lock(folder, opened.config.name):
            _print_cycle(run_cycle(opened, X, tracker))
            done += 1
            trained_on = _resolved_count(opened)
            while max_cycles is None or done < max_cycles:
                stop, reason = stop_verdict(opened)
                if stop:
                    click.echo(f"stopping: {reason}")
                    return
                # Always pull: it fetches only changed tasks, and it also marks webhook
                # events handled (skipping it while events wait would ignore their labels).
                pull_labels(opened.gateway, opened.state, opened.project_id, opened.labels)
                waiting = _resolved_count(opened) - trained_on
                low_queue = opened.state.pending_tasks() < opened.config.batch_size
                if waiting >= opened.config.stopping.new_labels_per_cycle or (
                    low_queue and waiting > 0
                ):
                    _print_cycle(run_cycle(opened, X, tracker))
                    done += 1
                    trained_on = _resolved_count(opened)
                    last_activity = time.monotonic()
                    continue
                if waiting:
                    last_activity = time.monotonic()
                if idle_timeout is not None and time.monotonic() - last_activity > idle_timeout:
                    click.echo(f"stopping: no new labels for {idle_timeout:.0f} s")
                    return
                time.sleep(poll)

    @main.command()
    @click.option("--config", "config_path", required=True, type=click.Path(path_type=Path))
    @_workdir_option
    @one_line_errors
    def status(config_path: Path, workdir: Path | None) -> None:
        """Show labels so far, class balance, agreement, queue, last metrics, stop verdict."""
        from annotate._status import status_tables

        opened = _open(config_path, workdir)
        from rich.console import Console

        console = Console(width=120)
        for table in status_tables(opened):
            console.print(table)

    @main.command()
    @click.option(
        "--config",
        "config_path",
        default="configs/demo.yaml",
        show_default=True,
        type=click.Path(path_type=Path),
    )
    @click.option("--cycles", default=8, show_default=True, type=click.IntRange(1))
    @click.option("--error-rate", default=0.05, show_default=True, type=click.FloatRange(0, 0.5))
    @click.option(
        "--port", default=8080, show_default=True, help="First port to try for Label Studio."
    )
    @click.option("--stop-server", is_flag=True, help="Stop Label Studio at the end.")
    @_workdir_option
    @one_line_errors
    def demo(
        config_path: Path,
        cycles: int,
        error_rate: float,
        port: int,
        stop_server: bool,
        workdir: Path | None,
    ) -> None:
        """Run the real loop end to end, a simulated annotator labelling in Label Studio."""
        from rich.console import Console

        from annotate._cycle import run_cycle, stop_verdict
        from annotate._demo import SimulatedAnnotator, champion_summary
        from annotate._ls_server import free_port_from, server_status, start_server
        from annotate._ls_server import stop_server as stop
        from annotate._project import project_features
        from annotate._status import status_tables
        from annotate._tracking import Tracker
        from annotate._workdir import resolve_workdir

        folder = resolve_workdir(workdir)
        state, running = server_status(folder)
        if not running:
            click.echo("starting Label Studio (the first start takes about 40 s) ...")
            state, _, _ = start_server(folder, port=free_port_from(port))
        opened = _open(config_path, folder)
        X = project_features(opened.config, opened.pool)
        tracker = Tracker(folder, opened.config.name)
        annotator = SimulatedAnnotator(opened, folder, error_rate=error_rate)
        total_wrong = 0
        try:
            with cycle_lock(folder, opened.config.name):
                for _ in range(cycles):
                    _print_cycle(run_cycle(opened, X, tracker))
                    stop_now, reason = stop_verdict(opened)
                    if stop_now:
                        click.echo(f"stopping: {reason}")
                        break
                    done, wrong = annotator.label_waiting()
                    total_wrong += wrong
                    click.echo(
                        f"  annotators labelled {done} task(s) in Label Studio "
                        f"({wrong} wrong on purpose)"
                    )
        finally:
            annotator.close()
        console = Console(width=120)
        for table in status_tables(opened):
            console.print(table)
        click.echo(f"labels given wrong on purpose: {total_wrong}")
        if opened.config.routing.enabled:
            from annotate._export import export_frame, write_export

            frame, _ = export_frame(opened)
            target = write_export(frame, opened.state.path.parent / "labels.csv", "csv")
            machine = frame[frame["source"] == "machine"]
            right = sum(
                annotator.gold[i] == label
                for i, label in zip(machine["item_id"], machine["label"], strict=True)
            )
            share = len(machine) / len(opened.pool)
            precision = f"{right / len(machine):.3f}" if len(machine) else "—"
            click.echo(
                f"machine labels: {len(machine)} ({share:.1%} of the pool), precision against "
                f"the gold labels {precision}; dataset exported to {target}"
            )
        click.echo(f"champion model: {champion_summary(tracker)}")
        assert state is not None
        click.echo(f"Label Studio: {state.url}/projects/{opened.project_id}")
        click.echo(f"login: {folder / 'label-studio' / 'credentials.json'} (mode 0600)")
        click.echo(
            f"MLflow UI: .venv/bin/labelloop ui --workdir {folder}   (then http://127.0.0.1:5000)"
        )
        click.echo(
            "label by hand and watch the loop follow: "
            f".venv/bin/labelloop run --config {config_path} --workdir {folder}"
        )
        if stop_server:
            stop(folder)
            click.echo("Label Studio stopped")
        else:
            click.echo(
                f"stop Label Studio with: .venv/bin/labelloop server stop --workdir {folder}"
            )

    @main.command()
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
    @_workdir_option
    @one_line_errors
    def report(
        config_path: Path | None,
        simulation: Path | None,
        out_path: Path | None,
        workdir: Path | None,
    ) -> None:
        r"""Write a self-contained HTML report of a project or of a simulation.

        
        Examples:
          labelloop report --config configs/demo.yaml --out report.html
          labelloop report --simulation runs/digits
        """
        from annotate._errors import ConfigError
        from annotate._report import project_report, simulation_report

        if (config_path is None) == (simulation is None):
            raise click.UsageError(
                "give --config (a project) or --simulation (a folder), one of them"
            )
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
        from annotate._tracking import Tracker

        assert config_path is not None
        opened = _open(config_path, workdir)
        folder = opened.state.path.parents[2]
        tracker = Tracker(folder, opened.config.name)
        target = out_path or opened.state.path.parent / "report.html"
        target.write_text(project_report(opened, tracker.versions()))
        runs = [c["run_id"] for c in opened.state.cycles() if c["run_id"]]
        if runs:
            tracker.log_report(runs[-1], target)
        click.echo(f"wrote {target}" + (f" (also in MLflow run {runs[-1]})" if runs else ""))

    @main.command()
    @click.option("--config", "config_path", required=True, type=click.Path(path_type=Path))
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
    @_workdir_option
    @one_line_errors
    def export(
        config_path: Path,
        fmt: str | None,
        out_path: Path | None,
        no_machine: bool,
        pull: bool,
        workdir: Path | None,
    ) -> None:
        r"""Write the labelled dataset: item id, label, source, annotators, agreement, model.

        Source is `human` (one annotation), `consensus` (majority of two or more) or
        `machine` (labelled automatically under the routing thresholds).

        
        Examples:
          labelloop export --config configs/bbc_news.yaml --format parquet --out labels.parquet
          labelloop export --config configs/bbc_news.yaml --format csv --no-machine
        """
        from rich.console import Console
        from rich.table import Table

        from annotate._errors import LabelloopError
        from annotate._export import export_frame, write_export
        from annotate._ls_sync import pull_labels

        suffix = out_path.suffix.lower().lstrip(".") if out_path is not None else ""
        if fmt is None:
            fmt = suffix if suffix in ("csv", "parquet", "jsonl") else "csv"
        elif suffix in ("csv", "parquet", "jsonl") and suffix != fmt:
            raise click.UsageError(f"--out {out_path}: a .{suffix} file, but --format {fmt}")
        opened = _open(config_path, workdir)
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

    @main.command()
    @_workdir_option
    @click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
    def ui(workdir: Path | None, port: int) -> None:
        """Open the MLflow UI on the work dir's store (127.0.0.1)."""
        import subprocess
        import sys

        from annotate._tracking import tracking_uri
        from annotate._workdir import resolve_workdir

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


def _resolved_count(opened: Any) -> int:
    return sum(r.label is not None for r in opened.state.resolutions().values())

"""Commands that run the loop: cycle, run, demo."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import click

from labelloop.annotate.cli.common import (
    config_option,
    lock_wait_s,
    one_line_errors,
    open_project,
    project_matrix,
    workdir_option,
)
from labelloop.annotate.cli.common import say_on_stderr as say
from labelloop.annotate.loop.lock import project_lock

__all__ = ["cycle", "demo", "run"]

T = TypeVar("T")


@click.command()
@config_option
@workdir_option
@one_line_errors
def cycle(config_path: Path, workdir: Path | None) -> None:
    """Run one cycle: pull, retrain, evaluate, log to MLflow, push the next batch.

    \b
    Example:
      labelloop cycle --config configs/bbc_news.yaml
    """
    startup = _Stopwatch()
    from labelloop.annotate.loop.cycle import run_cycle
    from labelloop.annotate.loop.tracking import Tracker

    opened = open_project(config_path, workdir, lock="cycle")
    folder = opened.state.path.parents[2]
    startup.lap("project")
    X = project_matrix(opened)
    startup.lap("features")
    tracker = Tracker(folder, opened.config.name)
    startup.lap("MLflow")
    _print_cycle(run_cycle(opened, X, tracker), startup=startup.laps)


@click.command()
@config_option
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
@click.option(
    "--outage-timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for Label Studio (or an MLflow server) to come back before giving up.",
)
@workdir_option
@one_line_errors
def run(
    config_path: Path,
    poll: float,
    max_cycles: int | None,
    idle_timeout: float | None,
    outage_timeout: float,
    workdir: Path | None,
) -> None:
    """Keep the loop going: a cycle whenever enough new labels have arrived.

    A cycle starts when `stopping.new_labels_per_cycle` new labels are in (found by
    polling Label Studio, or announced by `labelloop listen`), when the queue of
    unlabelled tasks runs low, or when Start Training is pressed in Label Studio (with
    `labelloop serve` connected). Stops when the stopping rule or the budget says so.
    When Label Studio cannot be reached (a restart), it retries every 5 s and resumes
    the cycle where it stopped; after `--outage-timeout` seconds it gives up.

    \b
    Example:
      labelloop run --config configs/bbc_news.yaml --poll 10 --outage-timeout 900
    """
    startup = _Stopwatch()
    from labelloop.annotate.labelstudio.sync import pull_labels
    from labelloop.annotate.loop.adopted import has_new_tasks
    from labelloop.annotate.loop.cycle import run_cycle
    from labelloop.annotate.loop.outage import outlast
    from labelloop.annotate.loop.stopping import stop_verdict
    from labelloop.annotate.loop.tracking import Tracker

    def wait_out(step: Callable[[], T]) -> T:
        # Every step given here is safe to rerun whole: a cycle resumes where it stopped.
        return outlast(step, timeout_s=outage_timeout, say=lambda line: click.echo(line, err=True))

    opened = wait_out(lambda: open_project(config_path, workdir))
    generation = opened.state.get_meta("data_generation")  # of the pool it loaded
    folder = opened.state.path.parents[2]
    startup.lap("project")
    X = project_matrix(opened)
    startup.lap("features")
    tracker = wait_out(lambda: Tracker(folder, opened.config.name))
    startup.lap("MLflow")
    done = 0
    last_activity = time.monotonic()
    # The lock is held while the loop works, and let go while it sleeps between polls.
    with project_lock(folder, opened.config.name, "run", wait_s=lock_wait_s(), notify=say) as lock:
        opened.state.training_started()  # this first cycle answers any waiting request
        _print_cycle(wait_out(lambda: run_cycle(opened, X, tracker)), startup=startup.laps)
        done += 1
        trained_on = _resolved_count(opened)
        while max_cycles is None or done < max_cycles:
            reload = opened.state.get_meta("data_generation") != generation
            if reload:
                # `accept-data` ran while we slept: the pool and its features are stale.
                say("the data file was accepted anew (labelloop accept-data): reloading the pool")
            elif opened.working is not None and opened.working.stale():
                say(f"the Parquet files of {opened.config.data.source} changed: reloading")
                reload = True
            elif opened.adopted and wait_out(
                partial(has_new_tasks, opened.config, opened.gateway, opened.state)
            ):
                say(f"new tasks in Label Studio project {opened.project_id}: reloading the pool")
                reload = True
            if reload:
                opened.close()
                opened = wait_out(lambda: open_project(config_path, workdir))
                X = project_matrix(opened)
                generation = opened.state.get_meta("data_generation")
            stop, reason = stop_verdict(opened)
            if stop:
                click.echo(f"stopping: {reason}")
                return
            # Start Training pressed in Label Studio (`labelloop serve` stored it).
            requested = opened.state.training_requests() > 0
            # Always pull: it fetches only changed tasks, and it also marks webhook
            # events handled (skipping it while events wait would ignore their labels).
            wait_out(
                partial(pull_labels, opened.gateway, opened.state, opened.project_id, opened.labels)
            )
            waiting = _resolved_count(opened) - trained_on
            low_queue = opened.state.pending_tasks() < opened.config.batch_size
            if (
                requested
                or waiting >= opened.config.stopping.new_labels_per_cycle
                or (low_queue and waiting > 0)
            ):
                if requested:
                    say("training requested in Label Studio (Start Training)")
                    opened.state.training_started()
                _print_cycle(wait_out(partial(run_cycle, opened, X, tracker)))
                done += 1
                trained_on = _resolved_count(opened)
                last_activity = time.monotonic()
                continue
            if waiting:
                last_activity = time.monotonic()
            if idle_timeout is not None and time.monotonic() - last_activity > idle_timeout:
                click.echo(f"stopping: no new labels for {idle_timeout:.0f} s")
                return
            lock.sleep_unlocked(poll)


@click.command()
@click.option(
    "--config",
    "config_path",
    default="configs/demo.yaml",
    show_default=True,
    type=click.Path(path_type=Path),
)
@click.option("--cycles", default=8, show_default=True, type=click.IntRange(1))
@click.option("--error-rate", default=0.05, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--port", default=8080, show_default=True, help="First port to try for Label Studio.")
@click.option("--stop-server", is_flag=True, help="Stop Label Studio at the end.")
@workdir_option
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

    from labelloop.annotate.config.workdir import resolve_workdir
    from labelloop.annotate.labelstudio.server import (
        free_port_from,
        server_status,
        start_server,
    )
    from labelloop.annotate.labelstudio.server import stop_server as stop
    from labelloop.annotate.loop.annotator import SimulatedAnnotator, champion_summary
    from labelloop.annotate.loop.cycle import run_cycle
    from labelloop.annotate.loop.stopping import stop_verdict
    from labelloop.annotate.loop.tracking import Tracker
    from labelloop.annotate.reporting.status import status_tables

    folder = resolve_workdir(workdir)
    state, running = server_status(folder)
    if not running:
        click.echo("starting Label Studio (the first start takes about 40 s) ...")
        state, _, _ = start_server(folder, port=free_port_from(port))
    opened = open_project(config_path, folder)
    X = project_matrix(opened)
    tracker = Tracker(folder, opened.config.name)
    annotator = SimulatedAnnotator(opened, folder, error_rate=error_rate)
    total_wrong = 0
    try:
        with project_lock(folder, opened.config.name, "demo", wait_s=lock_wait_s(), notify=say):
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
        from labelloop.annotate.reporting.export import export_frame, write_export

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
    _print_champion_examples(console, tracker, opened)
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
        click.echo(f"stop Label Studio with: .venv/bin/labelloop server stop --workdir {folder}")


def _print_champion_examples(console: Any, tracker: Any, opened: Any) -> None:
    """Score a few raw items nobody labelled with the registered champion; print a table."""
    from rich.table import Table

    from labelloop.annotate.errors import ModelNotFoundError
    from labelloop.annotate.loop.annotator import champion_examples

    try:
        examples = champion_examples(tracker, opened)
    except ModelNotFoundError:
        return
    if not examples:
        return
    uri = tracker.model_uri("champion")
    table = Table(title=f"The champion ({uri}) on raw items nobody labelled")
    for column in ("item", "champion says", "confidence", "gold label"):
        table.add_column(column, justify="right" if column == "confidence" else "left")
    for row in examples:
        gold = row["gold"] or "—"
        mark = "" if row["gold"] is None else (" ✓" if row["gold"] == row["predicted"] else " ✗")
        table.add_row(row["shown"], row["predicted"] + mark, f"{row['confidence']:.2f}", gold)
    console.print(table)
    click.echo(
        "score your own file: .venv/bin/labelloop predict --config CONFIG --data FILE --out FILE"
    )


def _print_cycle(report: Any, startup: dict[str, float] | None = None) -> None:
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
    if report.kept:
        parts.append(f"no new labels: kept model {report.model_version}")
    elif report.model_version:
        parts.append(f"model {report.model_version}{' (champion)' if report.champion else ''}")
    if report.routing is not None:
        counts, audit = report.routing["counts"], report.routing["audit"]
        state = " (SUSPENDED by audits)" if audit["suspended"] else ""
        parts.append(
            f"routes auto/review/human {counts['auto']}/{counts['review']}/{counts['human']}"
            + state
        )
    parts.append(f"pushed {report.pushed} ({report.batch_id or 'nothing left'})")
    if report.queue is not None:
        parts.append(f"queue: {report.queue.n_open} open, least sure first")
    work = sum(report.seconds.values())
    if startup:
        shares = ", ".join(f"{name} {s:.1f}" for name, s in startup.items())
        parts.append(f"{work:.1f} s + start-up {sum(startup.values()):.1f} s ({shares})")
    else:
        parts.append(f"{work:.1f} s")
    click.echo("; ".join(parts))


class _Stopwatch:
    """Laps of a command's start-up (imports, opening the project, MLflow's store)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def _resolved_count(opened: Any) -> int:
    return sum(r.label is not None for r in opened.state.resolutions().values())

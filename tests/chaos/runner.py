"""The chaos run's steps and its report.

A step is a burst of team actions, then one of: a ``labelloop`` command SIGKILLed at a
random moment, one killed at a failpoint, one left to finish, a Label Studio restart
under a running ``labelloop run``, or an MLflow outage under one. After every step the
project is pulled and every invariant is checked (:mod:`tests.chaos.invariants`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.chaos import invariants as inv
from tests.chaos.services import LabelStudioService, MlflowService
from tests.chaos.team import Team

__all__ = ["ChaosReport", "ChaosSettings", "run_chaos"]

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["business", "entertainment", "politics", "sports", "tech"]
ALWAYS_HUMAN_CLASS = "politics"
COMMANDS = ("run", "cycle", "push", "pull", "export")
COMMAND_WEIGHTS = np.array([0.25, 0.3, 0.15, 0.15, 0.15])
# Seconds within which a random SIGKILL lands (start-up included).
HORIZON = {"run": 16.0, "cycle": 12.0, "push": 7.0, "pull": 6.0, "export": 7.0}
INVARIANTS = {
    "mirrored": "every annotation in Label Studio mirrored exactly (deletions included)",
    "one_task": "one task per item in Label Studio",
    "task_map": "every task is the one the state maps its item to",
    "machine_for_people": "no machine label on an always-human item",
    "running": "no MLflow run left RUNNING after a finished cycle",
    "runs_per_cycle": "one finished run per cycle that trained",
    "export": "exported labels equal Label Studio's",
    "outputs": "every command ends in 0, a one-line error, or the kill",
    "outages": "run survives a Label Studio restart and an MLflow outage",
}


@dataclass
class ChaosSettings:
    """How long and how hard the chaos run is."""

    workdir: Path
    kills: int = 300
    ls_restarts: int = 5
    mlflow_outages: int = 3
    seed: int = 0
    items: int = 400
    progress: Callable[[str], None] | None = None


@dataclass
class ChaosReport:
    """What happened and what was found."""

    counts: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    violations: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    tell: Callable[[str], None] | None = None

    def violated(self, name: str, found: list[str], step: int) -> None:
        """Record one check of invariant ``name`` and what it found."""
        self.checks[name] += 1
        if found:
            self.violations.setdefault(name, []).extend(f"step {step}: {f}" for f in found)
            if self.tell is not None:
                self.tell(f"VIOLATION of {name} at step {step}: {found[0]} ({len(found)} such)")

    @property
    def total_violations(self) -> int:
        """Violations of every invariant together."""
        return sum(len(v) for v in self.violations.values())


def failpoints() -> list[str]:
    """Every failpoint the code has (``failpoint("name")`` in the sources)."""
    names: set[str] = set()
    for folder in ("annotate", "learners", "datasets"):
        for path in (ROOT / folder).rglob("*.py"):
            names.update(re.findall(r'failpoint\("([\w.]+)"\)', path.read_text()))
    return sorted(names)


def write_project(
    workdir: Path, items: int, rng: np.random.Generator
) -> tuple[Path, dict[str, str], set[str]]:
    """A BBC News pool as a CSV (ids that do not tell the label, a region column) and its config.

    Returns the config path, the gold labels and the items an always-human rule keeps.
    """
    from labelloop.datasets import load_demo_pool

    pool = load_demo_pool("bbc_news")
    rows = rng.choice(len(pool.frame), size=items, replace=False)
    frame = pool.frame.iloc[rows].reset_index(drop=True)
    regions = np.array(["EU", "eu ", " Eu", "US", "APAC", "LATAM", "US", "APAC"], dtype=object)
    frame = frame.assign(
        id=[f"doc-{k:05d}" for k in rng.permutation(items)],
        region=regions[rng.integers(len(regions), size=items)],
    )
    workdir.mkdir(parents=True, exist_ok=True)
    frame[["id", "text", "region"]].to_csv(workdir / "pool.csv", index=False)
    gold = dict(zip(frame["id"], frame["label"].astype(str), strict=True))
    people = {
        i for i, r in zip(frame["id"], frame["region"], strict=True) if r.strip().lower() == "eu"
    }
    config = workdir / "chaos.yaml"
    config.write_text(
        "name: chaos\n"
        "data: {source: pool.csv, id_column: id, text_column: text}\n"
        "featurizer: {kind: tfidf, max_features: 3000}\n"
        "model: {params: {max_iter: 1000, C: 10.0}}\n"
        "strategy: margin\n"
        "batch_size: 10\n"
        "seed: 0\n"
        "evaluation: {size: 40, per_batch: 10, metric: macro_f1}\n"
        "stopping: {rule: none, new_labels_per_cycle: 5}\n"
        f"labelling: {{labels: [{', '.join(LABELS)}]}}\n"
        "routing:\n"
        "  enabled: true\n"
        "  target_precision: 0.6\n"
        "  confidence: 0.8\n"
        "  review_min_confidence: 0.3\n"
        f"  always_human_classes: [{ALWAYS_HUMAN_CLASS}]\n"
        "  always_human: [{column: region, equals: eu}]\n"
        "  audit: {rate: 0.1, min_audits: 5, window: 50}\n"
    )
    return config, gold, people


class _Chaos:
    """One chaos run: the services, the team, the commands and the checks."""

    def __init__(self, settings: ChaosSettings) -> None:
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        self.report = ChaosReport(tell=settings.progress)
        self.step = 0
        self.workdir = settings.workdir
        self.logs = self.workdir / "chaos-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.config, self.gold, self.people_only = write_project(
            self.workdir / "data", settings.items, self.rng
        )
        self.failpoints = failpoints()
        self.ls = LabelStudioService(self.workdir)
        self.mlflow = MlflowService(self.workdir / "mlflow-server")
        self.env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": self.mlflow.uri,
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("LABELLOOP_FAILPOINT", None)
        self.project: Any = None
        self.team: Team | None = None
        self.view = inv.LabelStudioView([])

    # -- commands -----------------------------------------------------------------
    def _spawn(
        self, command: str, extra_env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        args = [command, "--config", str(self.config), "--workdir", str(self.workdir)]
        if command == "run":
            args += ["--poll", "1", "--max-cycles", "2", "--idle-timeout", "20"]
        if command == "export":
            args += ["--out", str(self.workdir / "labels.csv")]
        log = self.logs / f"{self.step:04d}-{command}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "labelloop"), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self.env, **(extra_env or {})},
                start_new_session=True,
            )
        self.report.counts[f"{command} started"] += 1
        return process, log

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> bool:
        """SIGKILL the command's process group; True if it was still running."""
        if process.poll() is not None:
            return False
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True

    def _judge_output(self, command: str, code: int, log: Path) -> None:
        text = log.read_text(errors="replace")
        found = []
        if code == -signal.SIGKILL:
            pass
        elif "Traceback (most recent call last)" in text:
            found.append(f"`{command}` ended in a traceback ({log.name})")
        elif code not in (0, 1):
            found.append(f"`{command}` exited {code} ({log.name})")
        elif code == 1 and not any(line.startswith("error: ") for line in text.splitlines()):
            found.append(f"`{command}` exited 1 without a one-line error ({log.name})")
        self.report.violated("outputs", found, self.step)
        if code == 0:
            self.report.counts[f"{command} finished"] += 1
        elif code == 1:
            last = [line for line in text.splitlines() if line.startswith("error: ")]
            self.report.counts[f"{command} refused: {_kind(last[-1] if last else '')}"] += 1

    def _reached_by(self, command: str) -> list[str]:
        """The failpoints a command passes: a cycle's for cycle and run, the push's for push."""
        if command in ("cycle", "run"):
            return self.failpoints
        if command == "push":
            return [f for f in self.failpoints if f == "push.imported"]
        return []

    def command_step(self) -> None:
        """One command, SIGKILLed at a random moment, at a failpoint, or left to finish."""
        command = COMMANDS[int(self.rng.choice(len(COMMANDS), p=COMMAND_WEIGHTS))]
        mode = str(self.rng.choice(["moment", "failpoint", "finish"], p=[0.65, 0.25, 0.1]))
        reached = self._reached_by(command)
        if mode == "failpoint" and not reached:
            mode = "moment"
        extra = None
        if mode == "failpoint":
            extra = {"LABELLOOP_FAILPOINT": str(self.rng.choice(reached))}
        process, log = self._spawn(command, extra)
        if mode == "moment":
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=float(self.rng.uniform(0.2, HORIZON[command])))
            if self._kill(process):
                self.report.counts["SIGKILL at a random moment"] += 1
                self.report.counts[f"{command} killed"] += 1
                return
        else:
            try:
                process.wait(timeout=240)
            except subprocess.TimeoutExpired:
                self._kill(process)
                self.report.violated(
                    "outputs", [f"`{command}` still running after 240 s"], self.step
                )
                return
            if process.returncode == -signal.SIGKILL:
                self.report.counts["SIGKILL at a failpoint"] += 1
                self.report.counts[f"{command} killed"] += 1
                return
        self._judge_output(command, int(process.returncode), log)
        if command in ("cycle", "run") and process.returncode == 0 and self.mlflow.up:
            self.report.violated("running", inv.no_run_left_running(self._runs()), self.step)

    def restart_step(self) -> None:
        """Restart Label Studio while ``labelloop run`` works; it must wait and go on."""
        process, log = self._spawn("run")
        time.sleep(float(self.rng.uniform(1, 8)))
        self.ls.stop()
        time.sleep(float(self.rng.uniform(3, 15)))
        self.ls.start()
        self.report.counts["Label Studio restarts"] += 1
        self._survived(process, log, "a Label Studio restart")

    def outage_step(self) -> None:
        """Make MLflow unreachable: ``cycle`` must fail in one line, ``run`` must wait."""
        self.mlflow.outage()
        self.report.counts["MLflow outages"] += 1
        cycle, cycle_log = self._spawn("cycle")
        try:
            cycle.wait(timeout=120)
            self._judge_output("cycle", int(cycle.returncode), cycle_log)
        except subprocess.TimeoutExpired:
            self._kill(cycle)
            self.report.violated(
                "outages", ["`cycle` hung for 120 s with MLflow unreachable"], self.step
            )
        process, log = self._spawn("run")
        time.sleep(float(self.rng.uniform(5, 25)))
        self.mlflow.back()
        self._survived(process, log, "an MLflow outage")

    def _survived(self, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
        try:
            process.wait(timeout=150)
        except subprocess.TimeoutExpired:
            self._kill(process)
            self.report.counts["run killed after an outage"] += 1
            return
        found = []
        if process.returncode != 0:
            lines = log.read_text(errors="replace").strip().splitlines()
            found.append(f"`run` died during {what}: {lines[-1] if lines else process.returncode}")
        self.report.violated("outages", found, self.step)
        self._judge_output("run", int(process.returncode), log)

    # -- checks -------------------------------------------------------------------
    def _open(self) -> Any:
        from labelloop.annotate.config.schema import load_config
        from labelloop.annotate.loop.features import load_project_pool
        from labelloop.annotate.loop.project import open_project

        config = load_config(self.config)
        return open_project(config, load_project_pool(config), self.workdir)

    def _runs(self) -> list[Any]:
        from mlflow import MlflowClient
        from mlflow.entities import ViewType

        client = MlflowClient(self.mlflow.server_uri)
        experiment = client.get_experiment_by_name("labelloop/chaos")
        if experiment is None:
            return []
        return list(
            client.search_runs(
                [experiment.experiment_id], run_view_type=ViewType.ALL, max_results=5000
            )
        )

    def check(self) -> None:
        """Pull, then check every invariant on both sides."""
        from labelloop.annotate.labelstudio.sync import pull_labels
        from labelloop.annotate.reporting.export import export_frame

        project = self.project
        pull_labels(project.gateway, project.state, project.project_id, project.labels)
        self.view = inv.label_studio_view(project.gateway.client, project.project_id)
        state = project.state
        step = self.step
        self.report.violated(
            "mirrored", inv.mirrored_exactly(self.view, state.annotation_rows()), step
        )
        self.report.violated("one_task", inv.one_task_per_item(self.view), step)
        pending_batch = state.pending_batch()
        pending = (
            {r["item_id"] for r in state.batch_items(pending_batch)} if pending_batch else set()
        )
        self.report.violated(
            "task_map", inv.tasks_known_to_state(self.view, state.task_map(), pending), step
        )
        frame, _ = export_frame(project)
        human = frame[frame["source"] != "machine"]
        machine = frame[frame["source"] == "machine"]
        self.report.violated(
            "export",
            inv.exported_labels_match(
                self.view, dict(zip(human["item_id"], human["label"], strict=True))
            ),
            step,
        )
        self.report.violated(
            "machine_for_people",
            inv.no_machine_label_for_people(
                dict(zip(machine["item_id"], machine["label"], strict=True)),
                self.people_only,
                {ALWAYS_HUMAN_CLASS},
            ),
            step,
        )
        self.report.counts["machine labels (last check)"] = len(machine)
        self.report.counts["human labels (last check)"] = len(human)
        if self.mlflow.up:
            runs = self._runs()
            self.report.violated(
                "runs_per_cycle", inv.one_finished_run_per_cycle(runs, state.cycles()), step
            )

    # -- the run ------------------------------------------------------------------
    def _say(self, message: str) -> None:
        if self.settings.progress is not None:
            self.settings.progress(message)

    def _kills(self) -> int:
        counts = self.report.counts
        return counts["SIGKILL at a random moment"] + counts["SIGKILL at a failpoint"]

    def _snapshot(self) -> None:
        """Write the tables so far to ``chaos-report.txt``, to read a long run as it goes."""
        from rich.console import Console

        self.report.seconds = time.perf_counter() - self._start
        with open(self.workdir / "chaos-report.txt", "w") as out:
            console = Console(file=out, width=120)
            console.print(f"after step {self.step}")
            console.print(counts_table(self.report))
            console.print(report_table(self.report))
            for name, found in self.report.violations.items():
                console.print(f"{name}: {len(found)} violation(s); first: {found[:3]}")

    def _due(self, event: str, wanted: int) -> bool:
        """Spread ``wanted`` events evenly over the kills (the rest after the last kill)."""
        done = self.report.counts[event]
        if done >= wanted:
            return False
        share = min(self._kills() / max(self.settings.kills, 1), 1.0)
        return self._kills() >= self.settings.kills or done < int(share * (wanted + 1))

    def run(self) -> ChaosReport:
        """Set up, step until the kills, restarts and outages are done, check a last time."""
        settings = self.settings
        start = self._start = time.perf_counter()
        self._say("starting Label Studio and the MLflow server ...")
        self.ls.start()
        self.mlflow.start()
        try:
            first, log = self._spawn("cycle")
            first.wait(timeout=300)
            self._judge_output("cycle", int(first.returncode), log)
            if first.returncode != 0:
                raise RuntimeError(f"the first cycle failed: {log.read_text()[-2000:]}")
            self.project = self._open()
            credentials = self.ls.credentials
            assert credentials is not None
            self.team = Team(
                self.project.gateway.url,
                credentials.api_key,
                self.project.project_id,
                self.gold,
                LABELS,
                "text",
                self.rng,
            )
            self.check()
            while (
                self._kills() < settings.kills
                or self.report.counts["Label Studio restarts"] < settings.ls_restarts
                or self.report.counts["MLflow outages"] < settings.mlflow_outages
            ):
                self.step += 1
                self.team.act(self.view.tasks, int(self.rng.integers(1, 6)))
                if self._due("Label Studio restarts", settings.ls_restarts):
                    self.restart_step()
                elif self._due("MLflow outages", settings.mlflow_outages):
                    self.outage_step()
                else:
                    self.command_step()
                self.check()
                counts = self.report.counts
                self._snapshot()
                self._say(
                    f"step {self.step}: kills {self._kills()}/{settings.kills}, Label Studio "
                    f"restarts {counts['Label Studio restarts']}/{settings.ls_restarts}, "
                    f"MLflow outages {counts['MLflow outages']}/{settings.mlflow_outages}, "
                    f"violations {self.report.total_violations}"
                )
            self._say("last cycle, finished without chaos ...")
            last, log = self._spawn("cycle")
            last.wait(timeout=300)
            self._judge_output("cycle", int(last.returncode), log)
            self.check()
            self.report.violated("running", inv.no_run_left_running(self._runs()), self.step)
            self.report.counts.update({f"team: {k}": v for k, v in self.team.done.items()})
            self.report.counts["cycles in the state"] = len(self.project.state.cycles())
        finally:
            if self.team is not None:
                self.team.close()
            if self.project is not None:
                self.project.close()
            self.mlflow.stop()
            self.ls.stop()
        self.report.seconds = time.perf_counter() - start
        return self.report


def _kind(line: str) -> str:
    """A short name for a one-line error (for the counts)."""
    text = line.removeprefix("error: ")
    for marker in ("unreachable", "cannot reach", "lock", "MLflow", "tracking", "busy"):
        if marker in text:
            return marker
    return text[:40]


def run_chaos(settings: ChaosSettings) -> ChaosReport:
    """Run the chaos run and return its report (see the module's docstring)."""
    return _Chaos(settings).run()


def report_table(report: ChaosReport) -> Any:
    """The invariants as a rich table: checks and violations each."""
    from rich.table import Table

    table = Table(title=f"chaos run: invariants ({report.seconds / 60:.1f} min)")
    table.add_column("invariant")
    table.add_column("checks", justify="right")
    table.add_column("violations", justify="right")
    for name, text in INVARIANTS.items():
        table.add_row(text, str(report.checks[name]), str(len(report.violations.get(name, []))))
    return table


def counts_table(report: ChaosReport) -> Any:
    """What the run did, as a rich table."""
    from rich.table import Table

    table = Table(title="chaos run: what happened")
    table.add_column("event")
    table.add_column("count", justify="right")
    for name, count in sorted(report.counts.items()):
        table.add_row(name, str(count))
    return table

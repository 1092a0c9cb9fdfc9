"""Human in the loop against real Label Studio and MLflow: routes, audits, corrections, export.

One routed wine project serves the whole module: setting it up (the Label Studio project,
the first cycles) is the expensive part. It moves through stages, each a module-scoped
fixture that builds on the one before:

- ``routed``: people label honestly until the machine labels items itself;
- ``suspended``: people reject every audited machine label until automatic labelling stops;
- ``resumed``: people confirm the audits until it starts again;
- ``exported``: a second annotator labels one item, then the labels are exported.

Each test asks for the stage it needs, so any one of them also runs on its own. Run
together, they run in the order they are defined here (pytest keeps it), and a test that
looks at a passing moment (suspended) comes before the stage that ends it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.rules import human_rule_mask
from labelloop.annotate.config.schema import ProjectConfig, load_config
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.project import LabellingProject, open_project
from labelloop.annotate.loop.tracking import Tracker
from labelloop.annotate.reporting.export import read_export
from tests.helpers import api, choice, label_tasks

pytestmark = pytest.mark.integration


def routed_wine_config(tmp_path: Path, name: str) -> Path:
    """Wine with routing at a low bar (target 0.8 at 90%) so 20 labels per class suffice."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndata: {{source: 'bundled:wine'}}\nfeaturizer: {{kind: numeric}}\n"
        "batch_size: 6\nbudget: 150\nevaluation: {size: 60, per_batch: 60}\n"
        "stopping: {rule: none}\n"
        "routing:\n"
        "  enabled: true\n"
        "  target_precision: 0.8\n"
        "  confidence: 0.9\n"
        "  review_min_confidence: 0.4\n"
        "  always_human_classes: [class_2]\n"
        "  always_human: [{column: alcohol, at_least: 13.9}]\n"
        "  audit: {rate: 0.1, min_audits: 4, window: 6, per_cycle_when_suspended: 6}\n"
    )
    return path


@dataclass
class Routed:
    """The module's project, and what happened to it so far."""

    config_path: Path
    config: ProjectConfig
    project: LabellingProject
    X: Any
    tracker: Tracker
    workdir: Path
    credentials: Credentials
    gold: dict[str, str]
    routes: dict[str, dict[str, Any]]  # as they stood when the machine first labelled items
    stage: str = "routed"
    corrected: list[str] = field(default_factory=list)  # the review item given a wrong label

    @property
    def labels(self) -> list[str]:
        return self.project.labels

    def cli(self, command: str, *options: str) -> Result:
        """``labelloop COMMAND --config ... --workdir ... OPTIONS`` on this project."""
        args = [command, "--config", str(self.config_path), "--workdir", str(self.workdir)]
        return CliRunner().invoke(main, [*args, *options])

    def label_and_cycle(self, choose: Any) -> tuple[Any, dict[str, Any] | None]:
        """People label the waiting tasks with ``choose``, then one cycle runs."""
        label_tasks(self.project, self.credentials, choose)
        report = run_cycle(self.project, self.X, self.tracker)
        return report, self.project.state.routing_summary()


@pytest.fixture(scope="module")
def routed(
    label_studio: tuple[Path, Credentials], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Routed]:
    """Label honestly until the machine labels something (and the model has some footing)."""
    workdir, credentials = label_studio
    folder = tmp_path_factory.mktemp("routed")
    config_path = routed_wine_config(folder, "routed")
    config = load_config(config_path)
    project = open_project(config, load_project_pool(config), workdir)
    try:
        X = project_features(config, project.pool, folder / "cache")
        tracker = Tracker(workdir, config.name)
        gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))

        def truth(item: str, row: Any) -> str | None:
            if row is not None and row["route"] == "audit":
                return None  # the audits wait
            return str(gold[item])

        summary: dict[str, Any] | None = None
        for _ in range(10):
            report = run_cycle(project, X, tracker)
            summary = project.state.routing_summary()
            if summary is not None and summary["counts"]["auto"] > 0 and report.n_labels >= 30:
                break
            label_tasks(project, credentials, truth)
        assert summary is not None and summary["counts"]["auto"] > 0, summary
        yield Routed(
            config_path,
            config,
            project,
            X,
            tracker,
            workdir,
            credentials,
            gold,
            routes=project.state.routes(),
        )
    finally:
        project.close()


@dataclass
class Suspended:
    summary: dict[str, Any] | None
    cycle: int  # the cycle that suspended automatic labelling


@pytest.fixture(scope="module")
def suspended(routed: Routed) -> Suspended:
    """Annotators reject every audited machine label, and correct one review guess."""

    def reject_audits(item: str, row: Any) -> str:
        if row is not None and row["route"] == "audit":
            return next(x for x in routed.labels if x != row["predicted"])
        if row is not None and row["route"] == "review" and not routed.corrected:
            routed.corrected.append(item)
            return next(x for x in routed.labels if x != row["predicted"])
        return str(routed.gold[item])

    for _ in range(4):  # until the window holds enough rejected audits
        report, summary = routed.label_and_cycle(reject_audits)
        if summary is not None and summary["audit"]["suspended"]:
            break
    routed.stage = "suspended"
    return Suspended(summary, report.cycle)


@dataclass
class Resumed:
    summaries: list[dict[str, Any] | None]  # the routing summary after each cycle


@pytest.fixture(scope="module")
def resumed(routed: Routed, suspended: Suspended) -> Resumed:
    """People go on labelling honestly and confirm the audits.

    While suspended, the machine labels nothing, yet fresh audits of would-be machine
    labels keep coming once the model is good again; confirmed, they lift the suspension.
    """

    def confirm_audits(item: str, row: Any) -> str:
        if row is not None and row["route"] == "audit":
            return str(row["predicted"])
        if row is not None and row["route"] == "review" and not routed.corrected:
            routed.corrected.append(item)
            return next(x for x in routed.labels if x != row["predicted"])
        return str(routed.gold[item])

    summaries: list[dict[str, Any] | None] = []
    for _ in range(8):
        _, summary = routed.label_and_cycle(confirm_audits)
        summaries.append(summary)
        if summary is None:
            break  # the test reports it
        if not summary["audit"]["suspended"] and routed.corrected:
            break
    routed.stage = "resumed"
    return Resumed(summaries)


@dataclass
class Exported:
    some_item: str  # labelled by two annotators
    frames: dict[str, pd.DataFrame]  # by format


@pytest.fixture(scope="module")
def exported(
    routed: Routed, resumed: Resumed, tmp_path_factory: pytest.TempPathFactory
) -> Exported:
    """A second annotator labels one item as the first did; then the export, every format."""
    state = routed.project.state
    some_item = next(i for i, r in state.resolutions().items() if r.label is not None)
    api(routed.credentials).annotations.create(
        id=state.task_map()[some_item],
        result=choice(str(state.resolutions()[some_item].label), to_name="table"),
    )
    folder = tmp_path_factory.mktemp("export")
    frames = {}
    for fmt in ("csv", "parquet", "jsonl"):
        out = folder / f"labels.{fmt}"
        result = routed.cli("export", "--format", fmt, "--out", str(out))
        assert result.exit_code == 0, result.stderr
        frames[fmt] = read_export(out)
    routed.stage = "exported"
    return Exported(some_item, frames)


def test_machine_labels_never_on_always_human_classes_or_rows(routed: Routed) -> None:
    pool = routed.project.pool
    keep = dict(
        zip(
            pool.ids.tolist(),
            human_rule_mask(pool.frame, routed.config.routing.always_human),
            strict=True,
        )
    )
    auto = {i: r for i, r in routed.routes.items() if r["route"] == "auto"}
    assert auto and all(r["predicted"] != "class_2" for r in auto.values())
    assert not any(keep[i] for i in auto)
    assert any(r["reason"] == "matches an always-human rule" for r in routed.routes.values())


def test_label_studio_shows_the_guess_on_review_tasks_only(routed: Routed) -> None:
    ls = api(routed.credentials)
    tasks = {
        t.data["item_id"]: t
        for t in ls.tasks.list(project=routed.project.project_id, fields="all")
        if t.data.get("labelloop_route") in ("audit", "review", "human")
    }
    audits = [i for i, t in tasks.items() if t.data["labelloop_route"] == "audit"]
    assert len(audits) >= routed.config.routing.audit.min_audits
    for item, task in tasks.items():
        # Every open task carries a prediction for the queue's order; only review tasks
        # carry a guess in it.
        results = [p["result"] if isinstance(p, dict) else p.result for p in task.predictions]
        shown = any(results)
        assert shown == (task.data["labelloop_route"] == "review"), item


def test_rejected_audits_suspend_automatic_labelling(routed: Routed, suspended: Suspended) -> None:
    # What follows reads the project while it is suspended: a later stage lifts that.
    assert routed.stage == "suspended", f"run before the {routed.stage!r} stage, not after"
    summary = suspended.summary
    assert summary is not None and summary["audit"]["suspended"], summary and summary["audit"]
    assert summary["counts"]["auto"] == 0
    assert not routed.project.state.auto_item_ids()
    status = routed.cli("status")
    assert status.exit_code == 0, status.stderr
    assert "SUSPENDED" in status.stdout


def test_confirmed_audits_resume_automatic_labelling(
    routed: Routed, suspended: Suspended, resumed: Resumed
) -> None:
    assert all(summary is not None for summary in resumed.summaries), resumed.summaries
    summaries = [s for s in resumed.summaries if s is not None]
    assert all(s["counts"]["auto"] == 0 for s in summaries if s["audit"]["suspended"])
    summary = summaries[-1]
    assert not summary["audit"]["suspended"], summary["audit"]
    assert summary["counts"]["auto"] > 0
    assert np.isfinite(summary["thresholds"]["class_0"]["lower_bound"])
    state = routed.project.state
    fresh = [
        row
        for cycle in state.cycles()
        if cycle["cycle"] > suspended.cycle and cycle["batch_id"]
        for row in state.batch_items(cycle["batch_id"])
        if row["route"] == "audit"
    ]
    assert fresh, "no audits were sent while suspended"


def test_a_corrected_review_guess_shows_in_the_corrections_metrics(
    routed: Routed, resumed: Resumed
) -> None:
    # Kept with both labels, counted per class and per model version in MLflow.
    state, client, corrected = routed.project.state, routed.tracker.client, routed.corrected
    outcomes = {r["item_id"]: r for r in state.prediction_outcomes()}
    assert corrected and outcomes[corrected[0]]["final"] != outcomes[corrected[0]]["predicted"]
    run = client.get_run(str(state.cycles()[-1]["run_id"]))
    assert run.data.metrics["corrections.rate"] > 0
    version = outcomes[corrected[0]]["model_version"]
    version_run = next(c["run_id"] for c in state.cycles() if c["model_version"] == version)
    assert client.get_run(version_run).data.metrics["corrections.version_rate"] > 0


def test_the_latest_run_records_routing(routed: Routed, resumed: Resumed) -> None:
    run = routed.tracker.client.get_run(str(routed.project.state.cycles()[-1]["run_id"]))
    assert "routing.auto_share" in run.data.metrics
    assert run.data.metrics["routing.suspended"] == 0.0
    assert run.data.params["routing.target_precision"] == "0.8"
    assert run.data.params["routing.always_human_classes"] == "class_2"


def test_push_route_review_sends_review_tasks_with_their_guess(
    routed: Routed, resumed: Resumed
) -> None:
    state = routed.project.state
    before = set(state.task_map())
    result = routed.cli("push", "--route", "review")
    assert result.exit_code == 0, result.stderr
    sent = set(state.task_map()) - before
    assert sent
    ls = api(routed.credentials)
    for task in ls.tasks.list(project=routed.project.project_id, fields="all"):
        if task.data["item_id"] in sent:
            assert task.data["labelloop_route"] == "review" and task.predictions


def test_a_second_annotation_makes_a_consensus_label(exported: Exported) -> None:
    for fmt, frame in exported.frames.items():
        row = frame.set_index("item_id").loc[exported.some_item]
        assert row["source"] == "consensus" and row["n_annotations"] == 2, fmt
        assert row["agreement"] == 1.0


def test_the_export_round_trips_every_label_in_every_format(
    routed: Routed, exported: Exported
) -> None:
    state = routed.project.state
    resolved = {i: r.label for i, r in state.resolutions().items() if r.label is not None}
    pushed = set(state.task_map())
    machine = {
        i: r["predicted"]
        for i, r in state.routes().items()
        if r["route"] == "auto" and i not in pushed
    }
    assert machine
    frames = exported.frames
    for fmt, frame in frames.items():
        assert frame["item_id"].is_unique, fmt
        humans = frame[frame["source"] != "machine"]
        assert dict(zip(humans["item_id"], humans["label"], strict=True)) == resolved, fmt
        machines = frame[frame["source"] == "machine"]
        assert dict(zip(machines["item_id"], machines["label"], strict=True)) == machine, fmt
        assert machines["confidence"].between(0, 1).all()
        assert machines["model_version"].notna().all()
        assert humans["annotators"].notna().all()
    pd.testing.assert_frame_equal(
        frames["csv"].reset_index(drop=True),
        frames["parquet"].reset_index(drop=True),
        check_dtype=False,
    )
    pd.testing.assert_frame_equal(
        frames["jsonl"].reset_index(drop=True),
        frames["parquet"].reset_index(drop=True),
        check_dtype=False,
    )


def test_an_unwritable_export_path_is_a_one_line_error(routed: Routed, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = routed.cli("export", "--out", str(blocked / "labels.csv"))
    assert result.exit_code == 1 and "cannot write the export" in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_report_shows_routing_and_corrections(
    routed: Routed, resumed: Resumed, tmp_path: Path
) -> None:
    page_path = tmp_path / "report.html"
    result = routed.cli("report", "--out", str(page_path))
    assert result.exit_code == 0, result.stderr
    page = page_path.read_text()
    assert "Human in the loop" in page and "Corrections per model version" in page

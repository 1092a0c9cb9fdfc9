"""Human in the loop against real Label Studio and MLflow: routes, audits, corrections, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.rules import human_rule_mask
from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.tracking import Tracker
from labelloop.annotate.reporting.export import read_export
from tests.helpers import api, label_tasks

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


def test_routes_audits_corrections_and_export(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = routed_wine_config(tmp_path, "routed")
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    X = project_features(config, project.pool, tmp_path / "cache")
    tracker = Tracker(workdir, config.name)
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    labels = project.labels

    def truth(item: str, row: Any) -> str | None:
        if row is not None and row["route"] == "audit":
            return None  # the audits wait
        return str(gold[item])

    # Label honestly until the machine labels something (and the model has some footing).
    summary: dict[str, Any] | None = None
    for _ in range(10):
        report = run_cycle(project, X, tracker)
        summary = project.state.routing_summary()
        if summary is not None and summary["counts"]["auto"] > 0 and report.n_labels >= 30:
            break
        label_tasks(project, credentials, truth)
    assert summary is not None and summary["counts"]["auto"] > 0, summary

    # The always-human rules hold: no machine label of class_2, none on strong wines.
    routes = project.state.routes()
    keep = dict(
        zip(
            project.pool.ids.tolist(),
            human_rule_mask(project.pool.frame, config.routing.always_human),
            strict=True,
        )
    )
    auto = {i: r for i, r in routes.items() if r["route"] == "auto"}
    assert auto and all(r["predicted"] != "class_2" for r in auto.values())
    assert not any(keep[i] for i in auto)
    assert any(r["reason"] == "matches an always-human rule" for r in routes.values())

    # What Label Studio shows: the guess on review tasks, none on audit or human tasks.
    ls = api(credentials)
    tasks = {
        t.data["item_id"]: t
        for t in ls.tasks.list(project=project.project_id, fields="all")
        if t.data.get("labelloop_route") in ("audit", "review", "human")
    }
    audits = [i for i, t in tasks.items() if t.data["labelloop_route"] == "audit"]
    assert len(audits) >= config.routing.audit.min_audits
    for item, task in tasks.items():
        shown = bool(task.predictions)
        assert shown == (task.data["labelloop_route"] == "review"), item

    # Annotators reject every audited machine label, and correct one review guess.
    corrected: list[str] = []

    def reject_audits(item: str, row: Any) -> str:
        if row is not None and row["route"] == "audit":
            return next(x for x in labels if x != row["predicted"])
        if row is not None and row["route"] == "review" and not corrected:
            corrected.append(item)
            return next(x for x in labels if x != row["predicted"])
        return str(gold[item])

    for _ in range(4):  # until the window holds enough rejected audits
        label_tasks(project, credentials, reject_audits)
        report = run_cycle(project, X, tracker)
        summary = project.state.routing_summary()
        if summary is not None and summary["audit"]["suspended"]:
            break
    assert summary is not None and summary["audit"]["suspended"], summary["audit"]
    assert summary["counts"]["auto"] == 0
    assert not project.state.auto_item_ids()
    status = CliRunner().invoke(
        main, ["status", "--config", str(config_path), "--workdir", str(workdir)]
    )
    assert status.exit_code == 0, status.stderr
    assert "SUSPENDED" in status.stdout
    suspended_at = report.cycle

    # People go on labelling honestly and confirm the audits. While suspended, the
    # machine labels nothing, yet fresh audits of would-be machine labels keep coming
    # once the model is good again; confirmed, they lift the suspension.
    def confirm_audits(item: str, row: Any) -> str:
        if row is not None and row["route"] == "audit":
            return str(row["predicted"])
        if row is not None and row["route"] == "review" and not corrected:
            corrected.append(item)
            return next(x for x in labels if x != row["predicted"])
        return str(gold[item])

    for _ in range(8):
        label_tasks(project, credentials, confirm_audits)
        report = run_cycle(project, X, tracker)
        summary = project.state.routing_summary()
        assert summary is not None
        if not summary["audit"]["suspended"]:
            if corrected:
                break
            continue
        assert summary["counts"]["auto"] == 0
    assert not summary["audit"]["suspended"], summary["audit"]
    assert summary["counts"]["auto"] > 0
    fresh = [
        row
        for cycle in project.state.cycles()
        if cycle["cycle"] > suspended_at and cycle["batch_id"]
        for row in project.state.batch_items(cycle["batch_id"])
        if row["route"] == "audit"
    ]
    assert fresh, "no audits were sent while suspended"

    # Corrections: kept with both labels, counted per class and per model version in MLflow.
    outcomes = {r["item_id"]: r for r in project.state.prediction_outcomes()}
    assert corrected and outcomes[corrected[0]]["final"] != outcomes[corrected[0]]["predicted"]
    run = tracker.client.get_run(str(project.state.cycles()[-1]["run_id"]))
    assert run.data.metrics["corrections.rate"] > 0
    assert "routing.auto_share" in run.data.metrics
    assert run.data.metrics["routing.suspended"] == 0.0
    assert run.data.params["routing.target_precision"] == "0.8"
    assert run.data.params["routing.always_human_classes"] == "class_2"
    version = outcomes[corrected[0]]["model_version"]
    version_run = next(c["run_id"] for c in project.state.cycles() if c["model_version"] == version)
    assert tracker.client.get_run(version_run).data.metrics["corrections.version_rate"] > 0

    # The review queue can be pushed on its own: every task carries the model's guess.
    before = set(project.state.task_map())
    result = CliRunner().invoke(
        main,
        ["push", "--config", str(config_path), "--workdir", str(workdir), "--route", "review"],
    )
    assert result.exit_code == 0, result.stderr
    sent = set(project.state.task_map()) - before
    assert sent
    for task in ls.tasks.list(project=project.project_id, fields="all"):
        if task.data["item_id"] in sent:
            assert task.data["labelloop_route"] == "review" and task.predictions

    # A second annotator on one item makes a consensus label.
    some_item = next(i for i, r in project.state.resolutions().items() if r.label is not None)
    ls.annotations.create(
        id=project.state.task_map()[some_item],
        result=[
            {
                "from_name": "label",
                "to_name": "table",
                "type": "choices",
                "value": {"choices": [project.state.resolutions()[some_item].label]},
            }
        ],
    )

    # The export round-trips in every format without losing a label.
    frames = {}
    for fmt in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"labels.{fmt}"
        result = CliRunner().invoke(
            main,
            [
                "export",
                "--config",
                str(config_path),
                "--workdir",
                str(workdir),
                "--format",
                fmt,
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.stderr
        frames[fmt] = read_export(out)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = CliRunner().invoke(
        main,
        [
            "export",
            "--config",
            str(config_path),
            "--workdir",
            str(workdir),
            "--out",
            str(blocked / "labels.csv"),
        ],
    )
    assert result.exit_code == 1 and "cannot write the export" in result.stderr
    assert result.stderr.count("\n") == 1
    resolved = {i: r.label for i, r in project.state.resolutions().items() if r.label is not None}
    pushed = set(project.state.task_map())
    machine = {
        i: r["predicted"]
        for i, r in project.state.routes().items()
        if r["route"] == "auto" and i not in pushed
    }
    assert machine
    for fmt, frame in frames.items():
        assert frame["item_id"].is_unique, fmt
        humans = frame[frame["source"] != "machine"]
        assert dict(zip(humans["item_id"], humans["label"], strict=True)) == resolved, fmt
        machines = frame[frame["source"] == "machine"]
        assert dict(zip(machines["item_id"], machines["label"], strict=True)) == machine, fmt
        row = frame.set_index("item_id").loc[some_item]
        assert row["source"] == "consensus" and row["n_annotations"] == 2, fmt
        assert row["agreement"] == 1.0
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

    # The report shows it all.
    page_path = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--config",
            str(config_path),
            "--workdir",
            str(workdir),
            "--out",
            str(page_path),
        ],
    )
    assert result.exit_code == 0, result.stderr
    page = page_path.read_text()
    assert "Human in the loop" in page and "Corrections per model version" in page
    assert np.isfinite(summary["thresholds"]["class_0"]["lower_bound"])

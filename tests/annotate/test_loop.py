"""The loop against real Label Studio and a real MLflow store: crashes, outages, the record."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.errors import LabelStudioError
from labelloop.annotate.labelstudio.server import Credentials, start_server, stop_server
from labelloop.annotate.loop.cycle import PHASES, run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.tracking import Tracker
from tests.helpers import api, label_tasks

pytestmark = pytest.mark.integration


def wine_config(tmp_path: Path, name: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndata: {{source: 'bundled:wine'}}\nfeaturizer: {{kind: numeric}}\n"
        "batch_size: 6\nbudget: 120\nevaluation: {size: 30, per_batch: 10}\n"
        "stopping: {rule: none}\n" + extra
    )
    return path


def annotate_waiting(project: Any, credentials: Credentials) -> int:
    """Label every task that has no annotation yet with its gold label, as a person would."""
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    return label_tasks(project, credentials, lambda item, row: str(gold[item]))


def check_invariants(project: Any, credentials: Credentials) -> None:
    ls = api(credentials)
    tasks = list(ls.tasks.list(project=project.project_id, fields="all"))
    items = [t.data["item_id"] for t in tasks]
    assert len(items) == len(set(items)), "a task was pushed twice"
    assert set(items) == set(project.state.task_map())
    live = {a["id"] for t in tasks for a in (t.annotations or [])}
    stored = {
        r["annotation_id"] for r in project.state.annotation_rows() if r["status"] != "deleted"
    }
    assert live <= stored, f"labels lost: {sorted(live - stored)}"


def _cycle_in_child(config_path: str, workdir: str, cache: str, failpoint: str | None) -> None:
    """Run `labelloop cycle` in a forked child (imports already loaded: no start-up cost)."""
    from click.testing import CliRunner

    from labelloop.annotate.cli.main import main

    os.environ["LABELLOOP_CACHE_DIR"] = cache
    if failpoint:
        os.environ["LABELLOOP_FAILPOINT"] = failpoint
    result = CliRunner().invoke(main, ["cycle", "--config", config_path, "--workdir", workdir])
    os._exit(result.exit_code)


def cycle_process(config_path: Path, workdir: Path, cache: Path, failpoint: str | None) -> int:
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(
        target=_cycle_in_child, args=(str(config_path), str(workdir), str(cache), failpoint)
    )
    child.start()
    child.join(timeout=300)
    return int(child.exitcode if child.exitcode is not None else 1)


@pytest.mark.chaos  # minutes of kills and restarts: `make chaos`
def test_sigkill_inside_every_phase_then_rerun(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    # Routing on, at a bar 30 evaluation labels can clear, so routes and audits are written.
    routing = (
        "routing: {enabled: true, target_precision: 0.7, confidence: 0.8, audit: {rate: 0.2}}\n"
    )
    config_path = wine_config(tmp_path, "crashloop", routing)
    cache = tmp_path / "cache"
    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(cache)}
    exe = str(Path(sys.executable).parent / "labelloop")
    command = [exe, "cycle", "--config", str(config_path), "--workdir", str(workdir)]
    subprocess.run(command, env=env, check=True, capture_output=True)  # cycle 1, the real CLI
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    for phase in PHASES:
        annotate_waiting(project, credentials)
        assert cycle_process(config_path, workdir, cache, phase) == -9, phase  # SIGKILLed
        assert cycle_process(config_path, workdir, cache, None) == 0, phase
        check_invariants(project, credentials)
        cycles = project.state.cycles()
        assert cycles[-1]["status"] == "pushed", phase
    assert project.state.routing_summary() is not None
    # One finished MLflow run per cycle that trained a model; none left from the crashes.
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("labelloop/crashloop")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    per_cycle = [r.data.tags["labelloop.cycle"] for r in runs]
    assert len(per_cycle) == len(set(per_cycle))
    assert all(r.info.status == "FINISHED" for r in runs)
    trained = [c for c in project.state.cycles() if c["run_id"]]
    assert {r.info.run_id for r in runs} == {c["run_id"] for c in trained}


def test_mlflow_holds_a_run_per_cycle_and_a_champion(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(wine_config(tmp_path, "tracked"))
    project = open_tracked(config, load_project_pool(config), workdir)
    X = project_features(config, project.pool, tmp_path / "cache")
    tracker = Tracker(workdir, config.name)
    reports = []
    for _ in range(4):
        reports.append(run_cycle(project, X, tracker))
        annotate_waiting(project, credentials)
    client = tracker.client
    runs = client.search_runs([tracker.experiment_id], order_by=["attributes.start_time ASC"])
    assert len(runs) == 3  # cycle 1 had no labels: nothing to train or log
    for run, report in zip(runs, reports[1:], strict=True):
        history = client.get_metric_history(run.info.run_id, "macro_f1")
        assert [m.step for m in history] == [report.n_labels]
        assert {"strategy", "batch_size", "estimator", "seed", "config_hash"} <= set(
            run.data.params
        )
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {
            "chosen_items.csv",
            "confusion_matrix.png",
            "labels_hash.txt",
            "learning_curve.png",
        } <= names
        model = tracker.load_classifier(run.info.run_id)  # as a resume does
        assert hasattr(model, "predict_proba")
        assert "seconds_push" in run.data.metrics
    # 30 evaluation labels by the last cycle: random sampling's estimate at its labels.
    last = runs[-1].data.metrics
    assert last["random_reach"] == 20 and reports[-1].n_labels <= 20
    assert last["random_macro_f1_low"] <= last["random_macro_f1"] <= last["random_macro_f1_high"]
    assert "random_macro_f1" not in runs[0].data.metrics
    champion = client.get_model_version_by_alias(tracker.model_name, "champion")
    scores = [r.data.metrics["macro_f1"] for r in runs]
    assert client.get_run(str(champion.run_id)).data.metrics["macro_f1"] == max(scores)
    loaded = tracker.load_model(f"models:/{tracker.model_name}@champion")
    scored = loaded.predict(project.pool.frame.head(3))
    assert list(scored.columns) == project.labels
    ls_project = api(credentials).projects.get(id=project.project_id)
    assert ls_project.model_version == reports[-1].model_version

    from click.testing import CliRunner

    from labelloop.annotate.cli.main import main

    config_file = tmp_path / "tracked.yaml"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--config",
            str(config_file),
            "--workdir",
            str(workdir),
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    for section in (
        "Learning curve",
        "Label distribution over time",
        "Annotators and agreement",
        "Items chosen in each cycle",
        "Registered model versions",
    ):
        assert section in page
    assert page.count("data:image/png;base64,") >= 2
    assert "Is active learning paying:</b> " in page
    last_run = project.state.cycles()[-1]["run_id"] or runs[-1].info.run_id
    assert "r.html" in {a.path for a in client.list_artifacts(last_run)}


def test_label_studio_down_during_a_cycle(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(wine_config(tmp_path, "outage"))
    project = open_tracked(config, load_project_pool(config), workdir)
    project.gateway.retries, project.gateway.backoff_s = 2, 0.2
    X = project_features(config, project.pool, tmp_path / "cache")
    tracker = Tracker(workdir, config.name)
    run_cycle(project, X, tracker)
    annotate_waiting(project, credentials)
    before = project.state.annotation_rows()
    assert stop_server(workdir).stopped
    try:
        with pytest.raises(
            LabelStudioError, match=r"cannot reach Label Studio at .* after 3 attempt\(s\)"
        ):
            run_cycle(project, X, tracker)
        assert project.state.annotation_rows() == before  # state intact
    finally:
        port = int(credentials.url.rsplit(":", 1)[1])
        start_server(workdir, port=port, timeout_s=120)
    report = run_cycle(project, X, tracker)  # the next run continues
    assert report.n_labels > 0 and report.pushed > 0
    check_invariants(project, credentials)


def test_run_follows_new_labels_and_status_reports(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = wine_config(tmp_path, "follow")
    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    exe = str(Path(sys.executable).parent / "labelloop")
    command = [exe, "run", "--config", str(config_path), "--workdir", str(workdir)]
    process = subprocess.Popen(
        [*command, "--poll", "0.5", "--max-cycles", "2", "--idle-timeout", "120"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        config = load_config(config_path)
        deadline = time.monotonic() + 120
        project = None
        while time.monotonic() < deadline:  # wait for cycle 1's batch
            if (workdir / "projects" / "follow" / "state.sqlite").exists():
                project = project or open_tracked(config, load_project_pool(config), workdir)
                if project.state.task_map():
                    break
            time.sleep(0.5)
        assert project is not None
        project.state.record_event("ANNOTATION_CREATED", [1])  # as `labelloop listen` would
        annotate_waiting(project, credentials)  # a person labels; run should notice
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-800:]
    assert "cycle 1" in out and "cycle 2" in out
    cycles = project.state.cycles()
    assert [c["status"] for c in cycles] == ["pushed", "pushed"]
    assert cycles[1]["n_labels"] > 0
    from click.testing import CliRunner

    from labelloop.annotate.cli.main import main

    result = CliRunner().invoke(
        main, ["status", "--config", str(config_path), "--workdir", str(workdir)]
    )
    assert result.exit_code == 0, result.stderr
    for text in ("labelled items (training)", "class balance", "recent cycles", "stopping rule"):
        assert text in result.stdout
    # Two cycles: too few evaluation labels to draw random sampling's curve from yet.
    assert "is active learning paying" in result.stdout
    assert "not yet: the estimate needs 30 labelled evaluation items" in result.stdout


def test_two_cycles_never_run_at_once(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from labelloop.annotate.cli.main import main
    from labelloop.annotate.loop.lock import project_lock

    workdir, _ = label_studio
    config_path = wine_config(tmp_path, "locked")
    with project_lock(workdir, "locked", "cycle"):
        result = CliRunner().invoke(
            main,
            ["cycle", "--config", str(config_path), "--workdir", str(workdir)],
            env={"LABELLOOP_LOCK_WAIT": "0.5"},
        )
    assert result.exit_code == 1
    assert f"waiting for the project lock held by pid {os.getpid()} (cycle)" in result.stderr
    assert f"error: project 'locked' is busy: pid {os.getpid()} (cycle) holds its lock" in (
        result.stderr
    )


def test_auto_exploration_draws_at_random_as_much_as_the_model_overclaims(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    extra = "exploration: auto\nmodel: {params: {max_iter: 1000, C: 1000.0}}\n"
    config = load_config(wine_config(tmp_path, "overclaims", extra))
    project = open_tracked(config, load_project_pool(config), workdir)
    X = project_features(config, project.pool, tmp_path / "cache")
    tracker = Tracker(workdir, config.name)
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    labels = project.labels
    flip = {i for k, i in enumerate(sorted(gold)) if k % 3 == 0}

    def careless(item: str, _: Any) -> str:
        """A third of the items get the next class: the labels a model cannot fit honestly."""
        label = str(gold[item])
        return labels[(labels.index(label) + 1) % len(labels)] if item in flip else label

    for _ in range(3):
        run_cycle(project, X, tracker)
        label_tasks(project, credentials, careless)
    run_cycle(project, X, tracker)
    drawn = []
    for cycle in project.state.cycles()[1:]:
        overclaim = cycle["metrics"]["overconfidence"]
        run = tracker.client.get_run(cycle["run_id"])
        assert run.data.metrics["overconfidence"] == pytest.approx(overclaim)
        assert run.data.params["exploration"] == "auto"
        picks = [
            r for r in project.state.batch_items(cycle["batch_id"]) if r["route"] != "evaluation"
        ]
        share = min(0.5, 2 * overclaim)
        unscored = sum(r["score"] is None for r in picks)
        # The share of the batch at random, rounded up or down: never more, never less.
        assert int(share * len(picks)) <= unscored <= int(share * len(picks) + 0.999999)
        assert all(r["score"] is not None for r in picks[: len(picks) - unscored])
        drawn.append(unscored)
    assert sum(drawn) > 0, drawn  # the careless labels made the model overclaim
    # `status` says how much of the last batch was drawn at random, and why.
    from rich.console import Console

    from labelloop.annotate.reporting.status import status_tables

    console = Console(width=300, record=True)
    for table in status_tables(project):
        console.print(table)
    said = " ".join(console.export_text().split())
    share = min(0.5, 2 * overclaim)
    expected = f"{share:.0%} of the last batch: the model's confidence exceeds its accuracy by"
    assert (expected if overclaim > 0 else "none in the last batch") in said, said

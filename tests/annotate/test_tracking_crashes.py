"""Crashes and outages around MLflow: killed while logging or after the push, MLflow down.

Real Label Studio, real MLflow (the work dir's SQLite store, or a real ``mlflow server``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow.entities import ViewType

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.errors import TrackingUnavailableError
from labelloop.annotate.labelstudio.server import Credentials, free_port
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.tracking import Tracker
from labelloop.learners import aligned_proba, prediction_kappa
from tests.helpers import api, label_tasks, last_batch_guesses

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, name: str, stopping: str = "{rule: none}") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndata: {{source: 'bundled:wine'}}\nfeaturizer: {{kind: numeric}}\n"
        "batch_size: 6\nbudget: 120\nevaluation: {size: 30, per_batch: 10}\n"
        f"stopping: {stopping}\n"
    )
    return path


def _label_all(project: Any, credentials: Credentials) -> int:
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    return label_tasks(project, credentials, lambda item, row: str(gold[item]))


def _cycle(
    config_path: Path,
    workdir: Path,
    tmp_path: Path,
    failpoint: str | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> tuple[int | None, str, str]:
    """Run one `labelloop cycle` in a fresh process; (exit code, stdout, stderr). None: hung.

    A fresh process, not a fork: a fork would inherit the MLflow stores (and their SQLite
    connections) that earlier tests opened in this process on the same work dir.
    """
    child_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MLFLOW_HTTP_REQUEST_")  # as in a fresh shell
    }
    child_env.update({"LABELLOOP_CACHE_DIR": str(tmp_path / "cache"), **(env or {})})
    child_env.pop("LABELLOOP_FAILPOINT", None)
    if failpoint:
        child_env["LABELLOOP_FAILPOINT"] = failpoint
    command = [str(Path(sys.executable).parent / "labelloop"), "cycle"]
    command += ["--config", str(config_path), "--workdir", str(workdir)]
    try:
        done = subprocess.run(
            command, env=child_env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return None, "", ""
    return done.returncode, done.stdout, done.stderr


def _runs(client: Any, experiment: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return list(client.search_runs([found.experiment_id], run_view_type=ViewType.ALL))


def test_killed_after_the_push_the_rerun_finishes_the_run_and_counts_the_tasks(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = _config(tmp_path, "afterpush")
    assert _cycle(config_path, workdir, tmp_path)[0] == 0  # cycle 1: nothing to train yet
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    _label_all(project, credentials)
    assert _cycle(config_path, workdir, tmp_path, failpoint="pushed")[0] == -9
    crashed = project.state.cycles()[-1]
    assert crashed["status"] == "logged" and crashed["batch_id"] is not None
    batch = [row["item_id"] for row in project.state.batch_items(crashed["batch_id"])]
    assert set(batch) <= set(project.state.task_map())  # the tasks went out before the kill

    code, stdout, stderr = _cycle(config_path, workdir, tmp_path)
    assert code == 0, stderr
    assert f"cycle {crashed['cycle']} (resumed)" in stdout
    assert f"pushed {len(batch)} ({crashed['batch_id']})" in stdout
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    run_id = crashed["run_id"]
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"chosen_items.csv", "confusion_matrix.png", "learning_curve.png"} <= names
    chosen = Path(client.download_artifacts(run_id, "chosen_items.csv", str(tmp_path)))
    rows = chosen.read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == batch


@pytest.mark.chaos  # minutes of kills and restarts: `make chaos`
def test_a_run_killed_while_logging_is_not_left_running(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = _config(tmp_path, "killedlogging")
    assert _cycle(config_path, workdir, tmp_path)[0] == 0
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    _label_all(project, credentials)
    assert _cycle(config_path, workdir, tmp_path, failpoint="logging")[0] == -9
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    assert [r.info.status for r in _runs(client, "labelloop/killedlogging")] == ["RUNNING"]

    code, _, stderr = _cycle(config_path, workdir, tmp_path)
    assert code == 0, stderr
    runs = _runs(client, "labelloop/killedlogging")
    assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []
    live = [r for r in runs if r.info.lifecycle_stage == "active"]
    assert [(r.data.tags["labelloop.cycle"], r.info.status) for r in live] == [("2", "FINISHED")]
    versions = client.search_model_versions("name = 'labelloop-killedlogging'")
    assert [v.run_id for v in versions] == [live[0].info.run_id]


@pytest.mark.chaos  # minutes of kills and restarts: `make chaos`
def test_a_cycle_killed_after_logging_before_the_state_knows_logs_a_model_that_exists(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = _config(tmp_path, "killedlogged")
    assert _cycle(config_path, workdir, tmp_path)[0] == 0
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    _label_all(project, credentials)
    # The model is logged and registered; the state has not recorded it yet.
    assert _cycle(config_path, workdir, tmp_path, failpoint="logged")[0] == -9
    assert project.state.cycles()[-1]["status"] == "started"

    code, _, stderr = _cycle(config_path, workdir, tmp_path)
    assert code == 0, stderr
    cycle = project.state.cycles()[-1]
    assert cycle["status"] == "pushed" and cycle["run_id"] is not None
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    live = [
        r for r in _runs(client, "labelloop/killedlogged") if r.info.lifecycle_stage == "active"
    ]
    assert [(r.info.run_id, r.info.status) for r in live] == [(cycle["run_id"], "FINISHED")]
    number = cycle["model_version"].rsplit(":v", 1)[1]
    version = client.get_model_version("labelloop-killedlogged", number)
    assert version.run_id == cycle["run_id"]


@pytest.mark.chaos  # minutes of kills and restarts: `make chaos`
def test_a_cycle_killed_after_the_stop_set_is_saved_compares_with_the_previous_model(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = _config(tmp_path, "stopcrash", "{rule: stabilizing_predictions, window: 3}")
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    for _ in range(2):  # cycle 1 (no model), cycle 2 (the first model)
        assert _cycle(config_path, workdir, tmp_path)[0] == 0
        _label_all(project, credentials)
    assert _cycle(config_path, workdir, tmp_path, failpoint="stop_set_saved")[0] == -9
    code, _, stderr = _cycle(config_path, workdir, tmp_path)
    assert code == 0, stderr
    second, third = project.state.cycles()[1:3]
    tracker = Tracker(workdir, config.name)
    X = project_features(config, project.pool, tmp_path / "cache")
    rows = project.pool.positions(json.loads(project.state.get_meta("stop_set") or "[]"))
    labels = np.asarray(project.labels, dtype=object)

    def predictions(run_id: str) -> list[str]:
        proba = aligned_proba(tracker.load_classifier(run_id), X[rows], project.labels)
        return list(labels[proba.argmax(axis=1)])

    expected = prediction_kappa(predictions(second["run_id"]), predictions(third["run_id"]))
    assert expected < 1.0  # the two models disagree somewhere: a self-comparison would show
    assert third["metrics"]["kappa_previous"] == pytest.approx(expected)


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 with a SQLite backend; started and stopped by pid."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 300) -> None:
        exe = str(Path(sys.executable).parent / "mlflow")
        command = [
            exe,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.folder / 'server.db'}",
            "--artifacts-destination",
            str(self.folder / "artifacts"),
            "--workers",
            "1",
        ]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # starts faster
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not start: {(self.folder / 'server.log')}")

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[MlflowServer]:
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    server = MlflowServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.chaos  # minutes of kills and restarts: `make chaos`
def test_mlflow_server_down_mid_cycle_then_back(
    open_tracked: Any,
    label_studio: tuple[Path, Credentials],
    mlflow_server: MlflowServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir, credentials = label_studio
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url}
    config_path = _config(tmp_path, "mlflowdown")
    code, _, stderr = _cycle(config_path, workdir, tmp_path, env=env)
    assert code == 0, stderr
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    _label_all(project, credentials)

    # MLflow goes away while a cycle runs: labels are pulled and kept, the cycle stops.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    for name, value in (
        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "5"),
    ):
        monkeypatch.setenv(name, value)
    tracker = Tracker(workdir, config.name)
    X = project_features(config, project.pool, tmp_path / "cache")
    mlflow_server.stop()
    with pytest.raises(TrackingUnavailableError, match=r"cannot reach MLflow at http://127"):
        run_cycle(project, X, tracker)
    pulled = project.state.annotation_rows()
    assert len(pulled) == sum(
        len(t.annotations or [])
        for t in api(credentials).tasks.list(project=project.project_id, fields="all")
    )

    # The command line says so in one line, within seconds (labelloop's own HTTP defaults).
    start = time.monotonic()
    code, stdout, stderr = _cycle(config_path, workdir, tmp_path, env=env, timeout_s=120)
    assert code == 1 and time.monotonic() - start < 45  # start-up included
    assert stderr.strip().splitlines() == [
        f"error: cannot reach MLflow at {mlflow_server.url} (tracking URI); "
        "is the tracking server running?"
    ]
    assert "Traceback" not in stdout + stderr

    mlflow_server.start()
    code, stdout, stderr = _cycle(config_path, workdir, tmp_path, env=env)
    assert code == 0, stderr
    assert stdout.startswith("cycle 2:")
    assert project.state.annotation_rows() == pulled  # nothing lost, nothing pulled twice
    client = mlflow.MlflowClient(mlflow_server.url)
    runs = _runs(client, "labelloop/mlflowdown")
    assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []
    live = [r for r in runs if r.info.lifecycle_stage == "active"]
    assert [(r.data.tags["labelloop.cycle"], r.info.status) for r in live] == [("2", "FINISHED")]
    assert len(client.search_model_versions("name = 'labelloop-mlflowdown'")) == 1
    tasks = [
        t.data["item_id"]
        for t in api(credentials).tasks.list(project=project.project_id, fields="all")
    ]
    assert len(tasks) == len(set(tasks))


def test_a_cycle_resumed_after_rows_joined_picks_on_the_refitted_features(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    """Killed once its model is logged, before picking; rows join the CSV; the rerun resumes.

    The scaler is fitted on every row, so the rows that joined move it: the resumed
    cycle's guesses come from the same labels fitted on today's features, not from the
    logged model.
    """
    import pandas as pd
    from click.testing import CliRunner
    from sklearn.datasets import load_wine

    from labelloop.annotate.cli.main import main
    from labelloop.annotate.config.schema import build_estimator
    from labelloop.annotate.state.store import StateStore

    workdir, credentials = label_studio
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "label"})
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    frame.insert(0, "item_id", [f"w{k:03d}" for k in range(len(frame))])
    data = tmp_path / "wines.csv"
    frame.to_csv(data, index=False)
    done = CliRunner().invoke(
        main,
        ["init", "grown", "--data", str(data), "--label-column", "label", "--id-column",
         "item_id", "--configs-dir", str(tmp_path)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    config_path = tmp_path / "grown.yaml"
    assert _cycle(config_path, workdir, tmp_path)[0] == 0
    config = load_config(config_path)
    gold = dict(zip(frame["item_id"], frame["label"].astype(str), strict=True))
    state = StateStore(workdir / "projects" / "grown" / "state.sqlite")
    try:
        project = type("Project", (), {"state": state})()
        assert label_tasks(project, credentials, lambda item, _: gold[item]) > 0
    finally:
        state.close()
    assert _cycle(config_path, workdir, tmp_path, failpoint="score")[0] == -signal.SIGKILL
    joined = frame.assign(item_id=[f"n{k:03d}" for k in range(len(frame))])
    numeric = [c for c in frame.columns if c not in ("item_id", "label")]
    joined[numeric] = joined[numeric] * 5
    pd.concat([frame, joined]).to_csv(data, index=False)
    code, _, err = _cycle(config_path, workdir, tmp_path)
    assert code == 0, err

    guesses, train = last_batch_guesses(workdir / "projects" / "grown" / "state.sqlite")
    pool = load_project_pool(config)
    X = project_features(config, pool, tmp_path / "features")
    rows = pool.positions(train)
    model = build_estimator(config.model).fit(X[rows], [gold[i] for i in train])
    shown = sorted(i for i, c in guesses.items() if c is not None)
    assert shown
    proba = aligned_proba(model, X[pool.positions(shown)], sorted(set(gold.values())))
    assert [guesses[i] for i in shown] == pytest.approx(proba.max(axis=1).tolist(), abs=1e-4)

"""`labelloop serve` as Label Studio's connected model, with Label Studio itself as the client."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.ml_backend import MlBackendServer, make_ml_backend
from labelloop.annotate.labelstudio.server import Credentials, free_port
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.serving import ChampionScorer
from labelloop.annotate.loop.tracking import Tracker
from labelloop.learners import certainty
from tests.helpers import api, label_tasks

pytestmark = pytest.mark.integration


def predictions_of(ls: Any, task: int) -> list[dict[str, Any]]:
    return [p if isinstance(p, dict) else p.dict() for p in ls.predictions.list(task=task)]


@pytest.fixture
def served(
    open_tracked: Any, loopback_label_studio: tuple[Path, Credentials], tmp_path: Path
) -> Iterator[tuple[Any, Tracker, MlBackendServer, str]]:
    """A wine project with a champion, and `serve` answering for it on 127.0.0.1.

    Label Studio adds a webhook to ``<url>/webhook`` when a model is connected, and
    refuses the connection unless it may post to 127.0.0.1: the loopback-webhook server.
    """
    workdir, credentials = loopback_label_studio
    path = tmp_path / "served.yaml"
    path.write_text(
        # A project of its own for each test (one Label Studio serves the session).
        f"name: served-{secrets.token_hex(3)}\n"
        "data: {source: 'bundled:wine'}\nfeaturizer: {kind: numeric}\n"
        "batch_size: 12\nbudget: 120\nevaluation: {size: 30, per_batch: 6}\n"
        "stopping: {rule: none}\n"
    )
    config = load_config(path)
    project = open_tracked(config, load_project_pool(config), workdir)
    X = project_features(config, project.pool, tmp_path / "cache")
    tracker = Tracker(workdir, config.name)
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    run_cycle(project, X, tracker)
    label_tasks(project, credentials, lambda item, row: str(gold[item]))
    run_cycle(project, X, tracker)
    scorer = ChampionScorer(tracker, project.kind, config.strategy, project.pool)
    assert scorer.load() is not None
    secret = secrets.token_urlsafe(24)
    httpd = make_ml_backend("127.0.0.1", free_port(), secret, project.state.path, scorer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield project, tracker, httpd, f"http://127.0.0.1:{httpd.server_address[1]}/{secret}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_label_studio_connects_predicts_and_trains_through_serve(
    served: tuple[Any, Tracker, MlBackendServer, str],
    loopback_label_studio: tuple[Path, Credentials],
    tmp_path: Path,
) -> None:
    project, tracker, httpd, url = served
    _, credentials = loopback_label_studio
    ls = api(credentials)
    champion = tracker.champion()
    assert champion is not None

    # Settings -> Model -> Connect Model, through Label Studio's /api/ml.
    ml_id = project.gateway.connect_model(project.project_id, url)
    assert httpd.calls["/health"] >= 1 and httpd.calls["/setup"] >= 1

    # Tasks labelloop did not push: someone imported them straight into Label Studio.
    frame = project.pool.frame
    columns = list(project.pool.feature_columns)
    queued = set(project.state.task_map())
    outside = [i for i in project.pool.ids.tolist() if i not in queued][:4]
    rows = [{c: float(frame.at[i, c]) for c in columns} for i in outside]
    imported = ls.projects.import_tasks(
        id=project.project_id, request=[{"data": {"table": r}} for r in rows], return_task_ids=True
    )
    foreign = [int(t) for t in imported.task_ids]

    # "Retrieve predictions" on three of them, from the Data Manager.
    ls.actions.create(
        id="retrieve_tasks_predictions",
        project=project.project_id,
        selected_items={"all": False, "included": foreign[:3]},
    )
    model = tracker.load_model(f"models:/{tracker.model_name}@champion")
    proba = model.predict(frame.loc[outside, columns])
    expected_guess = [str(proba.columns[k]) for k in proba.to_numpy().argmax(axis=1)]
    expected_score = certainty(proba.to_numpy(), project.config.strategy)
    for k, task in enumerate(foreign[:3]):
        (prediction,) = predictions_of(ls, task)
        assert prediction["model_version"] == champion[0]
        assert prediction["result"][0]["value"]["choices"] == [expected_guess[k]]
        assert prediction["score"] == pytest.approx(expected_score[k], abs=1e-5)

    # An annotator opens the fourth, which has no prediction yet: Label Studio asks for one.
    before = httpd.calls["/predict"]
    headers = ls._client_wrapper.get_headers()
    opened = httpx.get(f"{credentials.url}/api/tasks/{foreign[3]}", headers=headers, timeout=60)
    opened.raise_for_status()
    assert httpd.calls["/predict"] == before + 1
    (prediction,) = predictions_of(ls, foreign[3])
    assert prediction["result"][0]["value"]["choices"] == [expected_guess[3]]

    # "Send Test Request" and the versions list on the model's settings page.
    test = httpx.post(
        f"{credentials.url}/api/ml/{ml_id}/predict/test?random=true", headers=headers, timeout=60
    )
    assert test.status_code == 200, test.text
    versions = httpx.get(f"{credentials.url}/api/ml/{ml_id}/versions", headers=headers, timeout=60)
    assert champion[0] in versions.json()["versions"]

    # Start Training: stored for `labelloop run`, which starts a cycle on it.
    assert project.state.training_requests() == 0
    ls.ml.train(id=ml_id)
    assert project.state.training_requests() == 1

    counts = dict(sorted(httpd.calls.items()))
    (tmp_path / "serve-calls.json").write_text(json.dumps(counts))
    print(f"Label Studio's calls to labelloop serve: {counts}")
    assert set(counts) <= {"/health", "/setup", "/predict", "/webhook", "/train", "/versions"}


def test_serve_refuses_a_wrong_secret_and_records_events(
    served: tuple[Any, Tracker, MlBackendServer, str],
) -> None:
    project, _, httpd, url = served
    root = url.rsplit("/", 2)[0]
    assert httpx.get(f"{root}/health", timeout=10).status_code == 401
    assert httpx.get(f"{root}/not-the-secret-at-all/health", timeout=10).status_code == 401
    assert httpx.get(f"{url}health", timeout=10).json()["status"] == "UP"
    assert httpx.post(f"{url}predict", json={"tasks": "x"}, timeout=10).status_code == 400
    task = next(iter(project.state.task_map().values()))
    event = {"action": "ANNOTATION_CREATED", "task": {"id": task}, "annotation": {"id": 1}}
    assert httpx.post(f"{url}webhook", json=event, timeout=10).status_code == 201
    assert project.state.pending_events() == 1
    empty = httpx.post(f"{url}predict", json={"tasks": [{"data": {}}]}, timeout=10).json()
    assert empty["results"][0]["result"] == [] and empty["results"][0]["score"] is None
    assert httpd.calls["/webhook"] == 1 and httpd.calls["/predict"] == 2


def test_start_training_makes_a_running_run_start_a_cycle(
    served: tuple[Any, Tracker, MlBackendServer, str],
    loopback_label_studio: tuple[Path, Credentials],
    tmp_path: Path,
) -> None:
    project, _, _, url = served
    workdir, _ = loopback_label_studio
    before = len(project.state.cycles())
    command = [sys.executable, "-m", "labelloop.annotate.cli", "run"]
    command += ["--config", str(tmp_path / "served.yaml"), "--workdir", str(workdir)]
    command += ["--max-cycles", "2", "--poll", "1", "--idle-timeout", "120"]
    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while len(project.state.cycles()) == before or project.state.cycles()[-1]["status"] != (
            "pushed"
        ):
            assert time.monotonic() < deadline and run.poll() is None, "no first cycle"
            time.sleep(0.5)
        # No new labels: the run now waits. Start Training is pressed in Label Studio.
        pressed = httpx.post(f"{url}webhook", json={"action": "START_TRAINING"}, timeout=10)
        assert pressed.status_code == 201
        out, _ = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0, out
    assert "training requested in Label Studio (Start Training)" in out
    assert len(project.state.cycles()) == before + 2

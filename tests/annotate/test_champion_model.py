"""The registered champion, used as its users use it: raw rows in, probabilities out.

A text project runs a few cycles against the real Label Studio and a real MLflow store;
then its champion is loaded in a fresh process, by ``mlflow models predict`` in an
environment built from the model's own requirements, by ``mlflow models serve``, and
by ``labelloop predict``.
"""

from __future__ import annotations

import json
import os
import shutil
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
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials, free_port
from labelloop.annotate.loop.cycle import CycleReport, run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.project import LabellingProject, open_project
from labelloop.annotate.loop.tracking import Tracker
from labelloop.datasets import load_demo_pool
from tests.helpers import api, choice

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MLFLOW_NOISE = (
    "INFO mlflow",
    "WARNING mlflow",
    "Successfully registered",
    "Created version",
    "Downloading artifacts",
    "Detected uv project",
    "UserWarning",
)


def _label_open_tasks(
    project: LabellingProject, credentials: Credentials, gold: dict[str, str]
) -> int:
    ls = api(credentials)
    annotated = {r["task_id"] for r in project.state.annotation_rows()}
    done = 0
    for item, task in project.state.task_map().items():
        if task in annotated or list(ls.annotations.list(id=task)):
            continue
        ls.annotations.create(id=task, result=choice(gold[item]))
        done += 1
    return done


@pytest.fixture(scope="module")
def champion_project(
    label_studio: tuple[Path, Credentials], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Four cycles on 400 BBC articles (ids that do not name the topic), then one more
    cycle, from the command line, with no new labels."""
    workdir, credentials = label_studio
    folder = tmp_path_factory.mktemp("champion")
    bbc = load_demo_pool("bbc_news").frame.sample(n=500, random_state=7)
    frame = pd.DataFrame(
        {
            "doc": [f"doc-{k:04d}" for k in range(len(bbc))],
            "text": bbc["text"].to_numpy(),
            "topic": bbc["label"].to_numpy(),
        }
    )
    frame.iloc[:400].drop(columns="topic").to_csv(folder / "pool.csv", index=False)
    heldout = frame.iloc[400:].reset_index(drop=True)
    heldout.drop(columns="topic").to_csv(folder / "heldout.csv", index=False)
    gold = dict(zip(frame["doc"], frame["topic"], strict=True))
    config_path = folder / "champ.yaml"
    config_path.write_text(
        "name: champ\n"
        "data: {source: pool.csv, id_column: doc, text_column: text}\n"
        "labelling: {labels: [business, entertainment, politics, sports, tech]}\n"
        "featurizer: {kind: tfidf, max_features: 5000}\n"
        "model: {params: {max_iter: 1000, C: 20.0}}\n"
        "batch_size: 20\nevaluation: {size: 60, per_batch: 20}\nstopping: {rule: none}\n"
    )
    config = load_config(config_path)
    project = open_project(config, load_project_pool(config), workdir)
    X = project_features(config, project.pool, folder / "cache")
    tracker = Tracker(workdir, config.name)
    reports: list[CycleReport] = []
    try:
        for _ in range(4):
            reports.append(run_cycle(project, X, tracker))
            _label_open_tasks(project, credentials, gold)
        reports.append(run_cycle(project, X, tracker))  # trains on the last labels
        versions_before = len(tracker.client.search_model_versions("name = 'labelloop-champ'"))
        runs_before = len(tracker.client.search_runs([tracker.experiment_id]))
        # Nothing labelled since: the real command line keeps the model.
        env = {**os.environ, "LABELLOOP_CACHE_DIR": str(folder / "cache")}
        env.pop("LABELLOOP_VERBOSE", None)
        kept = subprocess.run(
            [
                str(BIN / "labelloop"),
                "cycle",
                "--config",
                str(config_path),
                "--workdir",
                str(workdir),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        yield {
            "workdir": workdir,
            "folder": folder,
            "config_path": config_path,
            "project": project,
            "tracker": tracker,
            "reports": reports,
            "heldout": heldout,
            "gold": gold,
            "kept": kept,
            "versions_before": versions_before,
            "runs_before": runs_before,
        }
    finally:
        project.close()


def _fresh_process_scores(python: Path, uri: str, tracking: str, data: Path, out: Path) -> None:
    script = (
        "import sys, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "rows = pd.read_csv(sys.argv[2])\n"
        "model.predict(rows).to_json(sys.argv[3], orient='split')\n"
    )
    subprocess.run(
        [str(python), "-c", script, uri, str(data), str(out)],
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking},
        check=True,
        capture_output=True,
        timeout=300,
    )


def _in_process_scores(tracker: Tracker, uri: str, rows: pd.DataFrame) -> pd.DataFrame:
    return tracker.load_model(uri).predict(rows)


def test_champion_scores_raw_rows_in_a_fresh_process_as_its_run_measured(
    champion_project: dict[str, Any],
) -> None:
    tracker: Tracker = champion_project["tracker"]
    project: LabellingProject = champion_project["project"]
    folder: Path = champion_project["folder"]
    champion = tracker.client.get_model_version_by_alias(tracker.model_name, "champion")
    run = tracker.client.get_run(str(champion.run_id))
    # The evaluation items the champion's run was measured on, as raw rows.
    evaluation = project.state.eval_items()
    labelled = {
        i: r.label for i, r in project.state.resolutions().items() if r.label and i in evaluation
    }
    step = tracker.client.get_metric_history(run.info.run_id, "accuracy")[0].step
    raw = project.pool.frame.loc[list(labelled), ["text"]].rename_axis("doc").reset_index()
    raw.to_csv(folder / "evaluation.csv", index=False)
    out = folder / "evaluation-scores.json"
    _fresh_process_scores(
        BIN / "python",
        "models:/labelloop-champ@champion",
        tracker.uri,
        folder / "evaluation.csv",
        out,
    )
    scores = pd.read_json(out, orient="split")
    assert list(scores.columns) == project.labels
    np.testing.assert_allclose(scores.to_numpy().sum(axis=1), 1.0, atol=1e-9)
    predicted = np.asarray(project.labels)[scores.to_numpy().argmax(axis=1)]
    truth = list(labelled.values())
    if int(run.data.metrics["n_eval_labelled"]) == len(truth):  # measured on this same set
        assert accuracy_score(truth, predicted) == pytest.approx(
            run.data.metrics["accuracy"], abs=1e-12
        )
        macro = f1_score(truth, predicted, labels=project.labels, average="macro", zero_division=0)
        assert macro == pytest.approx(run.data.metrics["macro_f1"], abs=1e-12)
    assert step > 0
    # Rows it never saw: the same probabilities as in this process, and mostly right.
    heldout: pd.DataFrame = champion_project["heldout"]
    out = folder / "heldout-scores.json"
    _fresh_process_scores(
        BIN / "python", "models:/labelloop-champ@champion", tracker.uri, folder / "heldout.csv", out
    )
    fresh = pd.read_json(out, orient="split")
    here = _in_process_scores(tracker, "models:/labelloop-champ@champion", heldout[["text"]])
    np.testing.assert_allclose(fresh.to_numpy(), here.to_numpy(), atol=1e-12)
    guessed = np.asarray(project.labels)[fresh.to_numpy().argmax(axis=1)]
    assert accuracy_score(heldout["topic"], guessed) > 0.7


def test_the_registered_model_says_what_it_takes_and_returns(
    champion_project: dict[str, Any],
) -> None:
    tracker: Tracker = champion_project["tracker"]
    project: LabellingProject = champion_project["project"]
    info = mlflow.models.get_model_info("models:/labelloop-champ@champion")
    assert info.signature.inputs.to_dict() == [{"type": "string", "name": "text", "required": True}]
    assert [c["name"] for c in info.signature.outputs.to_dict()] == project.labels
    assert {c["type"] for c in info.signature.outputs.to_dict()} == {"double"}
    config = info.flavors["python_function"]["config"]
    assert config["labels"] == project.labels
    assert config["featurizer"]["kind"] == "tfidf" and config["featurizer"]["max_features"] == 5000
    assert len(config["config_hash"]) == 16
    champion = tracker.client.get_model_version_by_alias(tracker.model_name, "champion")
    requirements = Path(
        mlflow.pyfunc.get_model_dependencies("models:/labelloop-champ@champion")
    ).read_text()
    assert "scikit-learn==" in requirements and "mlflow==" in requirements
    assert champion.run_id is not None


def test_lineage_an_analyst_can_follow(champion_project: dict[str, Any]) -> None:
    tracker: Tracker = champion_project["tracker"]
    project: LabellingProject = champion_project["project"]
    client = tracker.client
    versions = client.search_model_versions("name = 'labelloop-champ'")
    newest = max(versions, key=lambda v: int(v.version))
    assert (
        client.get_model_version_by_alias(tracker.model_name, "challenger").version
        == newest.version
    )
    for version in versions:
        tags = version.tags
        assert {"cycle", "n_labels", "strategy", "label_studio_project", "config_hash"} <= set(tags)
        assert tags["label_studio_project"] == str(project.project_id)
        run = client.get_run(str(version.run_id))
        assert tags["cycle"] == run.data.tags["labelloop.cycle"]
        assert tags["n_labels"] == str(
            int(client.get_metric_history(run.info.run_id, "accuracy")[0].step)
        )
        contexts = {
            i.tags[0].value if i.tags else None: i.dataset for i in run.inputs.dataset_inputs
        }
        assert {"training", "evaluation"} <= set(contexts), contexts
        assert contexts["training"].digest == run.data.tags["labelloop.labels_hash"]
        assert "http://127.0.0.1" in contexts["training"].source
        metrics = run.data.metrics
        for name in (
            "accuracy_score",
            "f1_score",
            "precision_score",
            "recall_score",
            "log_loss",
            "example_count",
        ):
            assert name in metrics, name
        assert metrics["accuracy_score"] == pytest.approx(metrics["accuracy"])
        assert metrics["example_count"] == metrics["n_eval_labelled"]


def test_a_cycle_with_no_new_labels_keeps_the_model_and_prints_no_mlflow_lines(
    champion_project: dict[str, Any],
) -> None:
    kept: subprocess.CompletedProcess[str] = champion_project["kept"]
    tracker: Tracker = champion_project["tracker"]
    assert kept.returncode == 0, kept.stderr
    assert "no new labels: kept model labelloop-champ:v" in kept.stdout
    after = len(tracker.client.search_model_versions("name = 'labelloop-champ'"))
    assert after == champion_project["versions_before"]
    assert (
        len(tracker.client.search_runs([tracker.experiment_id])) == champion_project["runs_before"]
    )
    output = kept.stdout + kept.stderr
    assert not [n for n in MLFLOW_NOISE if n in output], output
    # The earlier cycles' MLflow lines went to the work dir's log instead.
    log = (champion_project["workdir"] / "logs" / "mlflow.log").read_text()
    assert "Created version" in log


def test_labelloop_predict_scores_a_file_and_explains_bad_input(
    champion_project: dict[str, Any],
) -> None:
    folder: Path = champion_project["folder"]
    workdir: Path = champion_project["workdir"]
    config_path: Path = champion_project["config_path"]
    tracker: Tracker = champion_project["tracker"]
    project: LabellingProject = champion_project["project"]
    env = {k: v for k, v in os.environ.items() if k != "LABELLOOP_VERBOSE"}

    def predict(*args: str) -> subprocess.CompletedProcess[str]:
        command = [
            str(BIN / "labelloop"),
            "predict",
            "--config",
            str(config_path),
            "--workdir",
            str(workdir),
            *args,
        ]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    done = predict(
        "--data",
        str(folder / "heldout.csv"),
        "--out",
        str(folder / "scores.parquet"),
        "--chunk-size",
        "30",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("scored 100 rows with models:/labelloop-champ@champion")
    assert not [n for n in MLFLOW_NOISE if n in done.stdout + done.stderr], (
        done.stdout + done.stderr
    )
    scores = pd.read_parquet(folder / "scores.parquet")
    heldout: pd.DataFrame = champion_project["heldout"]
    assert scores["item_id"].tolist() == heldout["doc"].tolist()
    assert list(scores.columns) == [
        "item_id",
        "predicted",
        "confidence",
        *[f"p_{c}" for c in project.labels],
    ]
    here = _in_process_scores(tracker, "models:/labelloop-champ@champion", heldout[["text"]])
    np.testing.assert_allclose(
        scores[[f"p_{c}" for c in project.labels]].to_numpy(), here.to_numpy(), atol=1e-12
    )
    assert (scores["confidence"] == here.max(axis=1).to_numpy()).all()

    (folder / "no-text.csv").write_text("doc,body\nd1,hello\n")
    (folder / "twice.csv").write_text("doc,text\nd1,hello\nd1,again\n")
    for args, expected in (
        (("--data", str(folder / "no-text.csv")), "text"),
        (("--data", str(folder / "twice.csv")), "d1"),
        (("--data", str(folder / "missing.csv")), "missing.csv"),
        (("--data", str(folder / "heldout.csv"), "--model", "99"), "99"),
    ):
        out = "--out", str(folder / "bad.csv")
        failed = predict(*args, *out)
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode != 0 and len(lines) == 1, failed.stderr
        assert lines[0].startswith("error:") and expected in lines[0], lines[0]
        assert not (folder / "bad.csv").exists()


def test_mlflow_models_predict_in_an_environment_built_from_the_requirements(
    champion_project: dict[str, Any], tmp_path: Path
) -> None:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed (make setup installs it)")
    tracker: Tracker = champion_project["tracker"]
    folder: Path = champion_project["folder"]
    requirements = mlflow.pyfunc.get_model_dependencies("models:/labelloop-champ@champion")
    venv = tmp_path / "model-env"
    env = {**os.environ, "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env, check=True
    )
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            requirements,
        ],
        env=env,
        check=True,
        timeout=600,
    )
    listed = subprocess.run(
        [uv, "pip", "list", "--python", str(venv / "bin" / "python")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "labelloop" not in listed  # the model needs nothing of ours
    out = tmp_path / "predictions.json"
    subprocess.run(
        [
            str(venv / "bin" / "mlflow"),
            "models",
            "predict",
            "-m",
            "models:/labelloop-champ@champion",
            "-i",
            str(folder / "heldout.csv"),
            "-t",
            "csv",
            "-o",
            str(out),
            "--env-manager",
            "local",
        ],
        env={**env, "MLFLOW_TRACKING_URI": tracker.uri},
        check=True,
        capture_output=True,
        timeout=300,
        cwd=tmp_path,
    )
    predictions = pd.DataFrame(json.loads(out.read_text())["predictions"])
    heldout: pd.DataFrame = champion_project["heldout"]
    here = _in_process_scores(tracker, "models:/labelloop-champ@champion", heldout[["text"]])
    assert list(predictions.columns) == list(here.columns)
    np.testing.assert_allclose(predictions.to_numpy(), here.to_numpy(), atol=1e-12)


def test_mlflow_models_serve_answers_invocations(
    champion_project: dict[str, Any], tmp_path: Path
) -> None:
    tracker: Tracker = champion_project["tracker"]
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/labelloop-champ@champion",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--env-manager",
            "local",
            "-w",
            "1",
        ],
        # MLflow starts uvicorn by name: the environment's bin folder must be on PATH.
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": tracker.uri,
            "PATH": f"{BIN}:{os.environ['PATH']}",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError((tmp_path / "serve.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        texts = [
            "The striker scored twice in the cup final.",
            "Shares fell after the bank's results.",
        ]
        body = json.dumps({"dataframe_records": [{"text": t} for t in texts]}).encode()
        request = urllib.request.Request(
            f"{base}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            predictions = pd.DataFrame(json.loads(answer.read())["predictions"])
        here = _in_process_scores(
            tracker, "models:/labelloop-champ@champion", pd.DataFrame({"text": texts})
        )
        np.testing.assert_allclose(
            predictions[here.columns].to_numpy(), here.to_numpy(), atol=1e-12
        )
        assert str(here.idxmax(axis=1).iloc[0]) == "sports"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        log.close()

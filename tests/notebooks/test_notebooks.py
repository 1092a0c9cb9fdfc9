"""The analyst notebooks: stored without outputs, and executed from a clean state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix

from labelloop.annotate.loop.packaging import model_inputs, package_model
from labelloop.annotate.loop.tracking import CycleLog, Tracker
from labelloop.datasets import NumericFeaturizer, featurize, load_demo_pool

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str, env: dict[str, str], tmp_path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


def outputs(notebook: nbformat.NotebookNode, kind: str) -> list[Any]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs if kind in o.get("data", {})]


@pytest.mark.parametrize("name", ["quickstart.ipynb", "compare_runs.ipynb"])
def test_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_quickstart_runs_a_small_simulation(tmp_path: Path) -> None:
    config = NOTEBOOKS.parent / "configs" / "digits.yaml"
    notebook = execute(
        "quickstart.ipynb",
        {
            "LABELLOOP_NOTEBOOK_CONFIG": str(config),
            "LABELLOOP_NOTEBOOK_STRATEGIES": "margin,random",
            "LABELLOOP_NOTEBOOK_SEEDS": "2",
            "LABELLOOP_NOTEBOOK_BUDGET": "120",
            "LABELLOOP_CACHE_DIR": str(tmp_path / "cache"),
        },
        tmp_path,
    )
    assert outputs(notebook, "image/png"), "the learning-curve plot is missing"
    tables = [str(o["data"]["text/html"]) for o in outputs(notebook, "text/html")]
    assert any("labels to 99%" in t and "margin" in t and "random" in t for t in tables)
    assert (tmp_path / "quickstart_curves.png").is_file()


def test_compare_runs_reads_a_real_mlflow_store(tmp_path: Path) -> None:
    pool = load_demo_pool("wine")
    X, features = NumericFeaturizer().fit(pool)
    y = pool.labels
    rng = np.random.default_rng(0)
    order = rng.permutation(len(pool))
    test, train = order[:40], order[40:]
    tracker = Tracker(tmp_path, "notebook")
    for cycle, size in enumerate((10, 20, 40), start=1):
        rows = train[:size]
        model = LogisticRegression(max_iter=1000).fit(X[rows], y[rows])
        predicted = model.predict(X[test])
        entry = CycleLog(
            cycle=cycle,
            params={"strategy": "margin"},
            metrics={"accuracy": float(np.mean(predicted == y[test])), "macro_f1": float(np.mean(predicted == y[test]))},
            step=size,
            chosen=[],
            confusion=confusion_matrix(y[test], predicted, labels=pool.classes),
            labels=pool.classes,
            curve=[(size, 0.5)],
            labels_hash="h",
            package=package_model(
                model,
                features,
                labels=pool.classes,
                inputs=model_inputs(pool),
                featurizer={"kind": "numeric"},
                config_hash="h",
            ),
        )
        run_id, _, _ = tracker.log_cycle(entry, metric="macro_f1")
        # Routing metrics as a cycle logs them: the share the model is sure of (0.9 here)
        # and how often it is right there, measured on the held-out rows.
        sure = model.predict_proba(X).max(axis=1) >= 0.9
        sure_test = model.predict_proba(X[test]).max(axis=1) >= 0.9
        routing = {"routing.auto_share": float(sure.mean())}
        if sure_test.any():
            routing["audit.precision"] = float(np.mean(predicted[sure_test] == y[test][sure_test]))
        tracker.finish_cycle(run_id, entry, [{"item_id": "wine-000", "rank": 1, "score": 0.5}], {"pull": 0.1}, size, routing)
    notebook = execute(
        "compare_runs.ipynb",
        {"MLFLOW_TRACKING_URI": tracker.uri, "LABELLOOP_EXPERIMENT": "labelloop/notebook"},
        tmp_path,
    )
    tables = [str(o["data"]["text/html"]) for o in outputs(notebook, "text/html")]
    assert any("cycle" in t and "macro_f1" in t for t in tables)
    assert any("champion" in t for t in tables)
    assert any("machine_share" in t for t in tables)
    # metric plot, human-in-the-loop plot, champion confusion matrix
    assert len(outputs(notebook, "image/png")) >= 3

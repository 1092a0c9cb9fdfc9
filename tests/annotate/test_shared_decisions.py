"""The live loop and the simulation make the same decisions: one seeded scenario, both paths.

The live side runs on a real state store (no Label Studio or MLflow is involved in
these decisions); the simulation side is what ``labelloop simulate`` calls.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from labelloop.annotate.config.schema import build_estimator, load_config
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.stopping import (
    ensure_eval_set,
    evaluation_positions,
    observe_stop_set,
    stop_positions,
    stop_verdict,
    stopping_criterion,
)
from labelloop.annotate.state.store import StateStore
from labelloop.learners import aligned_proba, audit_quota, evaluation_thresholds

ROOT = Path(__file__).resolve().parents[2]


def _scenario(tmp_path: Path, stopping: dict[str, Any]) -> tuple[Any, Any, Any]:
    config = load_config(ROOT / "configs" / "wine.yaml")
    config = config.model_copy(
        update={"stopping": config.stopping.model_copy(update=stopping), "budget": 1000}
    )
    pool = load_project_pool(config)
    X = project_features(config, pool)
    project = SimpleNamespace(
        config=config, pool=pool, labels=list(pool.classes), state=StateStore(tmp_path / "s.db")
    )
    return config, X, project


def _models(config: Any, X: Any, pool: Any, eval_rows: Any, seed: int) -> list[Any]:
    """Models on growing labelled sets, as a run of the loop would make them."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.setdiff1d(np.arange(len(pool)), eval_rows))
    labels = pool.labels
    return [
        clone(build_estimator(config.model)).fit(X[order[:n]], labels[order[:n]])
        for n in range(12, 80, 6)
    ]


@pytest.mark.parametrize(
    "stopping",
    [
        {"rule": "stabilizing_predictions", "window": 2, "threshold": 0.95},
        {"rule": "overall_uncertainty", "threshold": 0.12},
    ],
    ids=["stabilizing_predictions", "overall_uncertainty"],
)
def test_live_and_simulated_stopping_decide_alike(tmp_path: Path, stopping: dict) -> None:
    config, X, project = _scenario(tmp_path, stopping)
    pool, state = project.pool, project.state
    try:
        # The evaluation set: same items, and the live order is the order drawn.
        live_eval = ensure_eval_set(project)
        drawn = evaluation_positions(config, len(pool), config.seed)
        assert state.eval_order() == pool.ids[drawn].tolist()
        assert live_eval == set(pool.ids[drawn].tolist())

        criterion = stopping_criterion(config)
        assert criterion is not None
        X_stop = X[stop_positions(config, len(pool), config.seed)]
        live, simulated = [], []
        for k, model in enumerate(_models(config, X, pool, drawn, config.seed)):
            simulated.append(criterion.update(model, X_stop))
            cycle, _, _ = state.open_cycle()
            metrics = observe_stop_set(project, X, model)
            state.cycle_logged(
                cycle,
                n_labels=12 + 6 * k,
                metrics=metrics,
                model_version=None,
                run_id=None,
                labels_hash=str(k),
            )
            state.cycle_pushed(cycle)
            live.append(stop_verdict(project))
        assert [stop for stop, _ in live] == [v.stop for v in simulated]
        assert [reason for _, reason in live] == [v.reason for v in simulated]
        # The scenario is one where the rule fires, and not at once.
        assert any(v.stop for v in simulated) and not simulated[0].stop
    finally:
        state.close()


def test_thresholds_do_not_depend_on_the_order_of_evaluation_items(tmp_path: Path) -> None:
    config, X, project = _scenario(tmp_path, {"rule": "none"})
    pool = project.pool
    project.state.close()
    drawn = np.sort(evaluation_positions(config, len(pool), config.seed))
    model = _models(config, X, pool, drawn, config.seed)[-1]
    proba = aligned_proba(model, X[drawn], project.labels)
    gold = pool.labels[drawn].tolist()
    thresholds = evaluation_thresholds(proba, gold, project.labels, target=0.8, confidence=0.9)
    # The live loop holds its evaluation items in the order drawn, the simulation sorted:
    # the one threshold function must not care.
    again = evaluation_thresholds(
        proba[::-1], gold[::-1], project.labels, target=0.8, confidence=0.9
    )
    assert {c: t.threshold for c, t in thresholds.items()} == {
        c: t.threshold for c, t in again.items()
    }
    assert audit_quota(95, 3, rate=0.05, suspended=False, when_suspended=10) == 2
    assert audit_quota(10, 40, rate=0.05, suspended=False, when_suspended=10) == 0

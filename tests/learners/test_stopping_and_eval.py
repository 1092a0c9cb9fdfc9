"""Stopping criteria, evaluation over the full label set, and curve summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labelloop.learners import (
    OverallUncertainty,
    StabilizingPredictions,
    area_under_curve,
    evaluate,
    labels_to_reach,
    spread,
    top_n,
)


def test_stabilizing_predictions_needs_a_full_window(iris_xy) -> None:
    X, y = iris_xy
    criterion = StabilizingPredictions(window=2, threshold=0.99)
    model = LogisticRegression(max_iter=500).fit(X, y)
    verdicts = [criterion.update(model, X) for _ in range(3)]
    assert [v.stop for v in verdicts] == [False, False, True]
    assert math.isnan(verdicts[0].value) and verdicts[2].value == 1.0


def test_stabilizing_predictions_does_not_stop_while_models_change(iris_xy) -> None:
    X, y = iris_xy
    criterion = StabilizingPredictions(window=1, threshold=0.99)
    small = LogisticRegression(max_iter=500).fit(X[[0, 50, 100]], y[[0, 50, 100]])
    full = LogisticRegression(max_iter=500).fit(X, y)
    criterion.update(small, X)
    verdict = criterion.update(full, X)
    assert not verdict.stop and verdict.value < 0.99


def test_overall_uncertainty(iris_xy) -> None:
    X, y = iris_xy
    full = LogisticRegression(max_iter=500).fit(X, y)
    assert OverallUncertainty(threshold=0.5).update(full, X).stop
    assert not OverallUncertainty(threshold=0.01).update(full, X).stop


def test_evaluation_counts_classes_the_model_never_saw(iris_xy) -> None:
    X, y = iris_xy
    two = LogisticRegression(max_iter=500).fit(X[:100], y[:100])  # no virginica
    metrics = evaluate(two, X, y, ["setosa", "versicolor", "virginica"])
    assert metrics.accuracy <= 2 / 3 + 1e-9
    assert metrics.macro_f1 < 0.7
    assert np.isfinite(metrics.log_loss) and metrics.log_loss > 1.0
    assert metrics.n_eval == 150


def test_curve_summaries() -> None:
    assert area_under_curve([10, 20], [0.5, 1.0]) == pytest.approx(0.75)
    assert labels_to_reach([10, 20, 30], [0.1, 0.2, 0.3], 0.5) is None
    assert spread([None, None]).n == 0


def test_top_n_breaks_ties_by_the_generator() -> None:
    scores = np.ones(100)
    picks = {tuple(top_n(scores, 3, np.random.default_rng(s)).indices.tolist()) for s in range(5)}
    assert len(picks) > 1
    assert (
        top_n(scores, 3, np.random.default_rng(1)).indices.tolist()
        == top_n(scores, 3, np.random.default_rng(1)).indices.tolist()
    )

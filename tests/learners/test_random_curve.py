"""The live estimate of random sampling's learning curve, against real random runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from labelloop.datasets import load_demo_pool
from labelloop.learners import RandomCurve, estimate_random_curve, labels_saved


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_the_estimate_from_the_evaluation_set_matches_real_random_runs_on_digits(
    metric: str,
) -> None:
    pool = load_demo_pool("digits")
    X = StandardScaler().fit_transform(pool.frame[list(pool.feature_columns)].to_numpy(dtype=float))
    y = np.asarray(pool.labels, dtype=object)
    labels = list(pool.classes)
    order = np.random.default_rng(7).permutation(len(y))
    evaluation, rest = order[:300], order[300:]  # the evaluation set: a random sample
    estimator = LogisticRegression(max_iter=1000)
    curve = estimate_random_curve(
        estimator, X[evaluation], y[evaluation], labels, [30, 100], metric=metric, repeats=20
    )
    assert curve.sizes == (30, 100) and curve.reach == 300 - 75
    for n, low, high in zip(curve.sizes, curve.low, curve.high, strict=True):
        real = []
        for seed in range(10):  # what labelling n items at random really gives
            draw = np.random.default_rng(100 + seed).permutation(rest)
            train, test = draw[:n], draw[n:]
            model = LogisticRegression(max_iter=1000).fit(X[train], y[train])
            guess = model.predict(X[test])
            real.append(
                float(np.mean(guess == y[test]))
                if metric == "accuracy"
                else float(f1_score(y[test], guess, average="macro"))
            )
        assert low <= float(np.mean(real)) <= high, (n, low, float(np.mean(real)), high)
        assert high - low < 0.2  # an interval narrow enough to tell something


def test_labels_saved_reads_the_curve_along_the_label_axis() -> None:
    curve = RandomCurve(
        sizes=(10, 20, 40, 80),
        mean=(0.5, 0.6, 0.7, 0.8),
        low=(0.45, 0.55, 0.65, 0.75),
        high=(0.55, 0.65, 0.75, 0.85),
        reach=80,
        n_eval=120,
        repeats=10,
    )
    # 0.7 at 20 labels: random needs 40 (30 to 60 within its interval): 20 saved.
    saved, low, high = labels_saved(curve, 20, 0.7)  # type: ignore[misc]
    assert (saved, low, high) == pytest.approx((20.0, 10.0, 40.0))
    # Worse than random at the same labels: negative, labels cost.
    assert labels_saved(curve, 40, 0.6)[0] == pytest.approx(-20.0)  # type: ignore[index]
    # Beyond the curve: the evaluation set cannot tell.
    assert labels_saved(curve, 40, 0.9) is None
    assert math.isinf(labels_saved(curve, 20, 0.78)[2])  # type: ignore[index]
    assert curve.at(30) == pytest.approx((0.65, 0.6, 0.7)) and curve.at(90) is None

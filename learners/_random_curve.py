"""What random sampling would have scored, estimated live from the evaluation set.

The evaluation set is a random sample of the pool, labelled by people. So a model
trained on ``n`` of its items drawn at random, and scored on the others, is a draw of
what labelling ``n`` items at random would have given. Repeated over random splits,
that traces random sampling's learning curve without a single extra label, next to the
curve active learning actually had; the gap between them, read along the label axis,
is the labels active learning saved (or cost).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, clone

from labelloop.learners._evaluation import aligned_proba, evaluate
from labelloop.learners._types import Matrix

__all__ = ["RandomCurve", "curve_reach", "estimate_random_curve", "labels_saved"]


@dataclass(frozen=True)
class RandomCurve:
    """Random sampling's estimated score at each number of labels.

    ``mean`` is the expected score of a model trained on that many random labels;
    ``low`` and ``high`` bound its 95% interval (the repeats' spread and the
    evaluation set's own sampling error, see :func:`estimate_random_curve`).
    ``reach`` is the most labels the evaluation set can stand in for.
    """

    sizes: tuple[int, ...]
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    reach: int
    n_eval: int
    repeats: int

    def at(self, n: int) -> tuple[float, float, float] | None:
        """Return (mean, low, high) at ``n`` labels, interpolated; None beyond reach."""
        if not self.sizes or n > self.sizes[-1] or n < self.sizes[0]:
            return None
        return (
            float(np.interp(n, self.sizes, self.mean)),
            float(np.interp(n, self.sizes, self.low)),
            float(np.interp(n, self.sizes, self.high)),
        )


def estimate_random_curve(
    estimator: BaseEstimator,
    X_eval: Matrix,
    y_eval: Sequence[Any] | NDArray[Any],
    labels: Sequence[Any],
    sizes: Sequence[int],
    *,
    metric: str = "macro_f1",
    repeats: int = 20,
    min_test: int = 10,
    seed: int = 0,
) -> RandomCurve:
    """Estimate random sampling's learning curve from a labelled random sample.

    For each size ``n`` (leaving ``min_test`` items and a quarter of the evaluation set
    to score on, at least: the curve's reach), the
    evaluation items are split at random ``repeats`` times into ``n`` to train on and
    the rest to score on; a training draw with a single class scores as that class's
    constant guess (a loop with one class has no model either).

    The interval adds two errors: the Monte Carlo error of the mean over repeats, and
    the evaluation set's own sampling error (a binomial error on the score, from the
    evaluation items, which every repeat shares). It covers the expected score of
    random sampling at ``n`` labels on the whole pool.

    Parameters
    ----------
    estimator : BaseEstimator
        The project's classifier (cloned for each fit).
    X_eval, y_eval
        The labelled evaluation items and their labels.
    labels : sequence
        The full label set.
    sizes : sequence of int
        Numbers of labels to estimate at; those beyond reach are dropped.
    metric : {"macro_f1", "accuracy"}
    repeats : int
        Random splits per size.
    min_test : int
        Items kept out of training in every split, at least.
    seed : int

    Returns
    -------
    RandomCurve
    """
    y = np.asarray(y_eval, dtype=object)
    m = len(y)
    reach = curve_reach(m, min_test)
    wanted = sorted({int(n) for n in sizes if 1 <= int(n) <= reach})
    rng = np.random.default_rng(seed)
    means: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    for n in wanted:
        scores = np.array(
            [_one_split(estimator, X_eval, y, labels, n, metric, rng) for _ in range(repeats)]
        )
        mean = float(scores.mean())
        monte_carlo = scores.std(ddof=1) / math.sqrt(repeats) if repeats > 1 else 0.0
        sampling = math.sqrt(max(mean * (1 - mean), 0.0) / m)
        half = 1.96 * math.sqrt(monte_carlo**2 + sampling**2)
        means.append(mean)
        lows.append(max(0.0, mean - half))
        highs.append(min(1.0, mean + half))
    return RandomCurve(tuple(wanted), tuple(means), tuple(lows), tuple(highs), reach, m, repeats)


def curve_reach(n_eval: int, min_test: int = 10) -> int:
    """Return the most labels ``n_eval`` evaluation items can stand in for.

    A quarter of them, and at least ``min_test``, are always scored on.

    Examples
    --------
    >>> curve_reach(300), curve_reach(20)
    (225, 10)
    """
    return max(0, n_eval - max(min_test, math.ceil(n_eval / 4)))


def _one_split(
    estimator: BaseEstimator,
    X: Matrix,
    y: NDArray[Any],
    labels: Sequence[Any],
    n: int,
    metric: str,
    rng: np.random.Generator,
) -> float:
    order = rng.permutation(len(y))
    train, test = order[:n], order[n:]
    classes = set(y[train].tolist())
    if len(classes) < 2:
        only = next(iter(classes))
        truth = y[test]
        if metric == "accuracy":
            return float(np.mean(truth == only))
        from sklearn.metrics import f1_score

        guess = np.full(len(truth), only, dtype=object)
        present = sorted(set(truth.tolist()), key=str)
        return float(f1_score(truth, guess, labels=present, average="macro", zero_division=0))
    model = clone(estimator).fit(X[train], y[train])
    if metric == "accuracy":
        return float(evaluate(model, X[test], y[test], labels).accuracy)
    from sklearn.metrics import f1_score

    # Over the classes the test part holds: a class a small split happens to lack
    # would count as a zero and pull the estimate down.
    proba = aligned_proba(model, X[test], labels)
    guess = np.asarray(labels, dtype=object)[proba.argmax(axis=1)]
    present = sorted(set(y[test].tolist()), key=str)
    return float(f1_score(y[test], guess, labels=present, average="macro", zero_division=0))


def labels_saved(curve: RandomCurve, n: int, score: float) -> tuple[float, float, float] | None:
    """Return how many more labels random sampling would need to match ``score`` at ``n``.

    Read along the label axis: random needs ``r`` labels where its mean curve reaches
    ``score``, so ``r - n`` labels were saved (negative: active learning cost labels).
    The bounds read the interval's upper and lower curves. None when the curve does not
    reach that score within its reach (the evaluation set is too small to tell) and
    ``score`` is not below the curve's start.

    Returns
    -------
    (saved, low, high) or None
    """

    def needed(curve_values: Sequence[float]) -> float | None:
        values = np.asarray(curve_values, dtype=float)
        sizes = np.asarray(curve.sizes, dtype=float)
        if len(values) == 0:
            return None
        if score <= values[0]:
            return float(sizes[0])
        above = np.nonzero(values >= score)[0]
        if len(above) == 0:
            return None
        k = int(above[0])
        x0, x1, y0, y1 = sizes[k - 1], sizes[k], values[k - 1], values[k]
        return float(x0 + (score - y0) * (x1 - x0) / (y1 - y0)) if y1 > y0 else float(x1)

    mean, fast, slow = needed(curve.mean), needed(curve.high), needed(curve.low)
    if mean is None:
        return None
    low = fast - n if fast is not None else mean - n
    high = slow - n if slow is not None else math.inf
    return mean - n, low, high

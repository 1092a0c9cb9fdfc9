"""Random sampling and the single-model uncertainty strategies."""

from __future__ import annotations

import numpy as np

from labelloop.learners._query_checks import check_query
from labelloop.learners._scores import (
    ScoreFunction,
    entropy_scores,
    least_confidence_scores,
    margin_scores,
    score_pool,
)
from labelloop.learners._selection import Query, distinct_top_n
from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = ["entropy_sampling", "least_confidence_sampling", "margin_sampling", "random_sampling"]


def random_sampling(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
) -> Query:
    """Pick ``n`` rows uniformly at random (the baseline); scores are all zero.

    Examples
    --------
    >>> q = random_sampling(None, np.zeros((5, 2)), 2, rng=np.random.default_rng(0))
    >>> len(q), len(set(q.indices.tolist()))
    (2, 2)
    """
    check_query(X, n)
    chosen = rng.choice(X.shape[0], size=n, replace=False).astype(np.intp)
    return Query(chosen, np.zeros(n, dtype=np.float64))


def _uncertainty_query(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    rng: np.random.Generator,
    score: ScoreFunction,
) -> Query:
    check_query(X, n)
    if model is None:
        raise ValueError("this strategy needs a fitted model; use a cold-start strategy first")
    return distinct_top_n(score_pool(model, X, score), X, n, rng)


def least_confidence_sampling(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
) -> Query:
    """Pick the rows whose top class probability is lowest."""
    return _uncertainty_query(model, X, n, rng, least_confidence_scores)


def margin_sampling(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
) -> Query:
    """Pick the rows whose two most likely classes are closest.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> sorted(margin_sampling(model, X, 2, rng=np.random.default_rng(0)).indices.tolist())
    [1, 2]
    """
    return _uncertainty_query(model, X, n, rng, margin_scores)


def entropy_sampling(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
) -> Query:
    """Pick the rows whose predicted class distribution has the highest entropy."""
    return _uncertainty_query(model, X, n, rng, entropy_scores)

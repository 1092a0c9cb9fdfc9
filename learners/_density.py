"""Information density: uncertainty weighted by how representative an item is (modAL.density)."""

from __future__ import annotations

import numpy as np
from modAL.density import information_density
from numpy.typing import NDArray

from labelloop.learners._query_checks import check_query
from labelloop.learners._scores import entropy_scores, score_pool
from labelloop.learners._selection import Query, top_n
from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = ["information_density_sampling"]


def information_density_sampling(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
    beta: float = 1.0,
    metric: str = "cosine",
    max_items: int = 3_000,
) -> Query:
    """Pick rows that are uncertain *and* lie in dense regions of the pool.

    Score: ``entropy(x) * density(x) ** beta``, with modAL's
    ``information_density`` (mean similarity to the other candidates). Density costs
    O(m^2) in the number of candidates, so on pools larger than ``max_items`` it is
    computed among the ``max_items`` most uncertain rows only.

    Parameters
    ----------
    beta : float
        Weight of density against uncertainty.
    metric : str
        Distance passed to modAL (``cosine`` suits TF-IDF and embeddings).
    max_items : int
        Largest candidate set on which density is computed.
    """
    check_query(X, n)
    if model is None:
        raise ValueError(
            "information density needs a fitted model; use a cold-start strategy first"
        )
    uncertainty = score_pool(model, X, entropy_scores)
    candidates: NDArray[np.intp] = np.arange(X.shape[0], dtype=np.intp)
    if X.shape[0] > max_items:
        candidates = top_n(uncertainty, max(max_items, n), rng).indices
    density = np.asarray(information_density(X[candidates], metric=metric), dtype=np.float64)
    scores = uncertainty[candidates] * np.clip(density, 0.0, None) ** beta
    best = top_n(scores, n, rng)
    return Query(candidates[best.indices], best.scores)

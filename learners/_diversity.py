"""Batch strategies that spread a batch over the pool instead of piling on one region."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from modAL.batch import uncertainty_batch_sampling
from modAL.models import ActiveLearner
from numpy.typing import NDArray
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics.pairwise import euclidean_distances

from labelloop.learners._query_checks import check_query
from labelloop.learners._scores import margin_scores, score_pool
from labelloop.learners._selection import Query, top_n
from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = [
    "diverse_margin_sampling",
    "k_center_greedy",
    "kmeans_cold_start",
    "ranked_batch_sampling",
]


def ranked_batch_sampling(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
    metric: str = "euclidean",
) -> Query:
    """Ranked batch-mode sampling (Cardoso et al. 2017) through modAL's implementation.

    Each pick trades uncertainty against distance to the labelled items and to the picks
    before it. modAL recomputes distances for every pick: O(n * rows) distance rows, so
    keep it to pools of tens of thousands; :func:`diverse_margin_sampling` scales further.
    Deterministic: ``rng`` is unused.
    """
    check_query(X, n)
    if model is None:
        raise ValueError("ranked batch needs a fitted model; use a cold-start strategy first")
    # A modAL learner wrapping the fitted model, so the model itself is never refitted.
    learner = ActiveLearner(estimator=model)
    if X_labelled is not None and X_labelled.shape[0] > 0:
        learner.X_training = X_labelled
    indices, scores = uncertainty_batch_sampling(learner, X, n_instances=n, metric=metric)
    return Query(np.asarray(indices, dtype=np.intp), np.asarray(scores, dtype=np.float64))


def diverse_margin_sampling(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
    candidate_factor: int = 10,
    min_candidates: int = 500,
    max_reference: int = 2_000,
) -> Query:
    """Margin candidates, then k-center greedy: uncertain *and* spread out; scales to 1M rows.

    1. Score every row by margin in chunks (one pass, O(rows)).
    2. Keep the ``max(candidate_factor * n, min_candidates)`` most uncertain rows.
    3. Farthest-first traversal over the candidates: start from the labelled items (a
       sample of at most ``max_reference``) or, with none, from the most uncertain
       candidate; each next pick is the candidate farthest from everything picked or
       labelled. Cost O(candidates * (n + reference) * features).

    Returned scores are the margin scores of the picks, in pick order.
    """
    check_query(X, n)
    if model is None:
        raise ValueError("diverse margin needs a fitted model; use a cold-start strategy first")
    margins = score_pool(model, X, margin_scores)
    n_candidates = min(X.shape[0], max(candidate_factor * n, min_candidates))
    candidates = top_n(margins, n_candidates, rng).indices
    reference = X_labelled
    if reference is not None and reference.shape[0] > max_reference:
        reference = reference[rng.choice(reference.shape[0], max_reference, replace=False)]
    picks = k_center_greedy(X[candidates], n, reference=reference)
    chosen = candidates[picks]
    return Query(chosen, margins[chosen])


def k_center_greedy(
    candidates: Matrix, n: int, *, reference: Matrix | None = None
) -> NDArray[np.intp]:
    """Farthest-first traversal: ``n`` rows of ``candidates``, each farthest from the rest.

    Each next pick is the candidate farthest from everything picked so far and from
    ``reference`` (the labelled items). With no reference the first pick is row 0, so
    candidates sorted best first start from the best one. Cost
    O(rows * (n + reference rows) * features).

    Parameters
    ----------
    candidates : array or sparse matrix of shape (rows, features)
        The rows to choose among, best first.
    n : int
        Picks to make; at most ``rows``.
    reference : array or sparse matrix, optional
        Rows already covered.

    Returns
    -------
    numpy.ndarray of int
        Positions into ``candidates``, in pick order.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0]])
    >>> k_center_greedy(X, 2).tolist()
    [0, 2]
    """
    if not 0 < n <= candidates.shape[0]:
        raise ValueError(f"cannot pick {n} of {candidates.shape[0]} candidates")
    norms = _row_norms_squared(candidates)
    nearest = np.full(candidates.shape[0], np.inf)
    if reference is not None and reference.shape[0] > 0:
        nearest = euclidean_distances(candidates, reference, X_norm_squared=norms[:, None]).min(
            axis=1
        )
    picks: list[int] = []
    for _ in range(n):
        # With no reference yet every distance is inf: argmax takes the first candidate.
        pick = int(np.argmax(nearest))
        picks.append(pick)
        new = euclidean_distances(
            candidates, candidates[[pick]], X_norm_squared=norms[:, None]
        ).ravel()
        nearest = np.minimum(nearest, new)
        nearest[picks] = -np.inf
    return np.asarray(picks, dtype=np.intp)


def _row_norms_squared(X: Matrix) -> NDArray[np.float64]:
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
    dense = np.asarray(X)
    norms: NDArray[np.float64] = np.einsum("ij,ij->i", dense, dense).astype(np.float64)
    return norms


def kmeans_cold_start(
    model: ProbabilisticClassifier | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
    minibatch_above: int = 20_000,
    fit_at_most: int = 200_000,
) -> Query:
    """First batch with no labels: the item nearest each of ``n`` k-means centroids.

    Covers the pool's main regions so the first model sees every common kind of item.
    Uses mini-batch k-means above ``minibatch_above`` rows; above ``fit_at_most`` rows
    the centroids are fitted on a random ``fit_at_most`` of them (a sample that size
    places ``n`` centroids as well as the whole pool would, at a fraction of the cost),
    then every row is assigned to its nearest. Scores are each pick's cluster size as
    a share of the pool (how much of the pool it stands for). ``model`` is unused.
    """
    check_query(X, n)
    n_rows = X.shape[0]
    seed = int(rng.integers(2**31 - 1))
    clusterer: KMeans | MiniBatchKMeans
    if n_rows > minibatch_above:
        clusterer = MiniBatchKMeans(n_clusters=n, random_state=seed, n_init=3, batch_size=4096)
    else:
        clusterer = KMeans(n_clusters=n, random_state=seed, n_init=1)
    if n_rows > fit_at_most:
        sample = np.sort(rng.choice(n_rows, size=fit_at_most, replace=False))
        clusterer.fit(X[sample])
        labels = clusterer.predict(X)
    else:
        labels = clusterer.fit_predict(X)
    distances = _distance_to_own_centroid(X, clusterer.cluster_centers_, labels)
    chosen: list[int] = []
    sizes: list[float] = []
    for cluster in range(n):
        members = np.flatnonzero(labels == cluster)
        if members.size:
            chosen.append(int(members[np.argmin(distances[members])]))
            sizes.append(members.size / n_rows)
    if len(chosen) < n:  # empty clusters: fill at random from the rest
        rest = np.setdiff1d(np.arange(n_rows), chosen)
        extra = rng.choice(rest, size=n - len(chosen), replace=False)
        chosen.extend(int(i) for i in extra)
        sizes.extend([0.0] * extra.size)
    order = np.argsort(-np.asarray(sizes), kind="stable")
    return Query(
        np.asarray(chosen, dtype=np.intp)[order], np.asarray(sizes, dtype=np.float64)[order]
    )


def _distance_to_own_centroid(
    X: Matrix, centers: NDArray[np.float64], labels: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Squared distance of each row to its own centroid, in chunks (sparse-safe)."""
    out = np.empty(X.shape[0], dtype=np.float64)
    center_norms = np.einsum("ij,ij->i", centers, centers)
    step = 65_536
    for start in range(0, X.shape[0], step):
        block = X[start : start + step]
        rows = np.arange(block.shape[0])
        own = labels[start : start + step]
        dots = np.asarray(block @ centers.T)[rows, own]
        out[start : start + step] = _row_norms_squared(block) - 2 * dots + center_norms[own]
    return out

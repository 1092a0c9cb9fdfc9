"""Selecting the best items from a score vector, with seeded tie-breaking."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = ["Query", "distinct_top_n", "top_n"]


@dataclass(frozen=True)
class Query:
    """The result of every strategy: positions chosen, best first, and their scores.

    Attributes
    ----------
    indices : numpy.ndarray of int
        Row positions into the matrix the strategy was given, in rank order.
    scores : numpy.ndarray of float
        The acquisition score of each chosen row (higher = more useful).
    """

    indices: NDArray[np.intp]
    scores: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.indices.shape != self.scores.shape:
            raise ValueError(
                f"Query has {self.indices.shape[0]} indices but {self.scores.shape[0]} scores"
            )

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def top_n(scores: NDArray[np.floating[Any]], n: int, rng: np.random.Generator) -> Query:
    """Pick the ``n`` highest scores in O(len(scores)); ties are broken by ``rng``.

    Parameters
    ----------
    scores : array of shape (n_items,)
    n : int
        How many to pick; ``0 <= n <= len(scores)``.
    rng : numpy.random.Generator
        Decides the order among equal scores.

    Returns
    -------
    Query
        Positions sorted by descending score.

    Examples
    --------
    >>> q = top_n(np.array([0.1, 0.9, 0.5]), 2, np.random.default_rng(0))
    >>> q.indices.tolist(), q.scores.tolist()
    ([1, 2], [0.9, 0.5])
    """
    scores = np.asarray(scores, dtype=np.float64)
    size = scores.shape[0]
    if not 0 <= n <= size:
        raise ValueError(f"cannot pick {n} items from {size} scores")
    if n == 0:
        return Query(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64))
    # O(size): find the n-th largest score, keep everything above it, and draw the rest
    # at random among the rows that tie with it. Only ties ever consume randomness.
    if n < size:
        cutoff = scores[np.argpartition(-scores, n - 1)[n - 1]]
        above = np.flatnonzero(scores > cutoff)
        tied = np.flatnonzero(scores == cutoff)
        chosen = np.concatenate([above, rng.choice(tied, size=n - above.size, replace=False)])
    else:
        chosen = np.arange(size)
    # Best first; equal scores in random order.
    order = np.lexsort((rng.random(chosen.size), -scores[chosen]))
    chosen = chosen[order].astype(np.intp)
    return Query(chosen, np.asarray(scores[chosen], dtype=np.float64))


def _row_keys(X: Any, rows: NDArray[np.intp]) -> list[bytes]:
    """Return one bytes key per row of ``X`` (dense or CSR): equal rows, equal keys."""
    matrix: Any = X  # issparse narrows to a type without row indexing
    if sp.issparse(X):
        sparse = sp.csr_matrix(matrix.tocsr()[rows])
        sparse.sort_indices()
        return [
            sparse.indices[a:b].tobytes() + b"|" + sparse.data[a:b].tobytes()
            for a, b in itertools.pairwise(sparse.indptr)
        ]
    dense = np.ascontiguousarray(np.asarray(matrix)[rows])
    return [row.tobytes() for row in dense]


def distinct_top_n(
    scores: NDArray[np.floating[Any]], X: Any, n: int, rng: np.random.Generator
) -> Query:
    """Pick the ``n`` highest scores, one row per distinct feature vector first.

    Items with the same features get the same score from any model, so a plain top-n
    can spend a whole batch on copies of one input (a table of a few categories, a
    text posted twice), and one label would have taught the model as much. The batch
    takes the best row of each distinct feature vector, best first; copies fill it only
    when fewer distinct vectors than it needs are among the best ``max(64 n, 10,000)``
    rows. Without copies among the best
    ``n`` it is :func:`top_n`, with the same draws.

    Parameters
    ----------
    scores : array of shape (n_items,)
    X : matrix of shape (n_items, n_features)
        The features the scores came from (dense or sparse).
    n : int
        How many to pick.
    rng : numpy.random.Generator
        Decides the order among equal scores.

    Returns
    -------
    Query
        Positions sorted by descending score (copies, if any, after the distinct rows).

    Examples
    --------
    >>> X = np.array([[0.0], [0.0], [0.0], [1.0]])
    >>> q = distinct_top_n(np.array([0.9, 0.9, 0.9, 0.5]), X, 2, np.random.default_rng(0))
    >>> sorted(X[q.indices, 0].tolist())
    [0.0, 1.0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    best = top_n(scores, n, rng)
    if len(set(_row_keys(X, best.indices))) == len(best):
        return best
    size = scores.shape[0]
    # The search for distinct rows stops at the best max(64 n, 10,000) rows: past them a
    # row is far less useful than the copies already found, and the cost stays bounded
    # on a pool of millions with a handful of distinct rows.
    limit = min(size, max(64 * n, 10_000))
    width = n
    while True:
        width = min(limit, 4 * width)
        ranked = top_n(scores, width, rng)
        seen: set[bytes] = set()
        first = np.zeros(width, dtype=bool)
        for k, key in enumerate(_row_keys(X, ranked.indices)):
            if key not in seen:
                seen.add(key)
                first[k] = True
        if first.sum() >= n or width == limit:
            break
    order = np.concatenate([np.flatnonzero(first), np.flatnonzero(~first)])[:n]
    chosen = ranked.indices[order]
    return Query(chosen, np.asarray(scores[chosen], dtype=np.float64))

"""Selecting the best items from a score vector, with seeded tie-breaking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Query", "top_n"]


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

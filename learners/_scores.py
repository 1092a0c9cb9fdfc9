"""Acquisition scores: pure functions of a probability matrix; higher means more useful.

Every function takes ``proba`` of shape ``(n_items, n_classes)`` (rows on the simplex) and
returns one float per row. They are the scoring core of the uncertainty strategies and are
safe to call on chunks of a large pool.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = [
    "ScoreFunction",
    "certainty",
    "entropy_scores",
    "least_confidence_scores",
    "linear_proba",
    "map_chunks",
    "margin_scores",
    "score_pool",
]

FloatArray: TypeAlias = NDArray[np.floating[Any]]
ScoreFunction: TypeAlias = Callable[[FloatArray], NDArray[np.float64]]


def least_confidence_scores(proba: FloatArray) -> NDArray[np.float64]:
    """Return ``1 - max_k p_k``: how far the top class is from certainty.

    Examples
    --------
    >>> least_confidence_scores(np.array([[0.9, 0.1], [0.5, 0.5]]))
    array([0.1, 0.5])
    """
    proba = np.asarray(proba)
    return np.asarray(1.0 - proba.max(axis=1), dtype=np.float64)


def margin_scores(proba: FloatArray) -> NDArray[np.float64]:
    """Return ``1 - (p_top1 - p_top2)``: near 1 when the two best classes tie.

    Examples
    --------
    >>> margin_scores(np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]))
    array([0.5, 1. ])
    """
    proba = np.asarray(proba)
    n_classes = proba.shape[1]
    if n_classes < 2:
        return np.zeros(proba.shape[0], dtype=np.float64)
    top_two = np.partition(proba, n_classes - 2, axis=1)[:, -2:]
    return np.asarray(1.0 - (top_two[:, 1] - top_two[:, 0]), dtype=np.float64)


def entropy_scores(proba: FloatArray) -> NDArray[np.float64]:
    """Return the Shannon entropy ``-sum_k p_k log p_k`` (natural log) of each row.

    Examples
    --------
    >>> entropy_scores(np.array([[1.0, 0.0], [0.5, 0.5]])).round(4)
    array([0.    , 0.6931])
    """
    proba = np.asarray(proba, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(proba > 0, proba * np.log(proba), 0.0)
    return np.asarray(-terms.sum(axis=1) + 0.0, dtype=np.float64)


# What each strategy measures, as a certainty: the ones not named rank by margin.
_CERTAINTY_OF = {
    "least_confidence": "confidence",
    "entropy": "entropy",
    "information_density": "entropy",
    "qbc_vote_entropy": "entropy",
    "qbc_consensus_entropy": "entropy",
}


def certainty(proba: FloatArray, strategy: str = "margin") -> NDArray[np.float64]:
    """Return how sure the model is of each row, in [0, 1], as ``strategy`` measures it.

    The lowest value is the item the strategy would most like labelled: a queue sorted
    by certainty, ascending, serves items in the strategy's own order. ``entropy`` (and
    the committee and density strategies) give ``1 - H / log(n_classes)``,
    ``least_confidence`` the top probability, every other strategy the gap between the
    two best classes (``1 - margin_scores``).

    Examples
    --------
    >>> proba = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    >>> certainty(proba).round(2)
    array([0.5, 0. ])
    >>> certainty(proba, "least_confidence").round(2)
    array([0.7, 0.4])
    >>> certainty(np.array([[0.5, 0.5], [1.0, 0.0]]), "entropy").round(2)
    array([0., 1.])
    """
    proba = np.asarray(proba, dtype=np.float64)
    measure = _CERTAINTY_OF.get(strategy, "margin")
    if measure == "confidence":
        value = proba.max(axis=1)
    elif measure == "entropy":
        n_classes = proba.shape[1]
        value = (
            1.0 - entropy_scores(proba) / np.log(n_classes)
            if n_classes > 1
            else np.ones(proba.shape[0])
        )
    else:
        value = 1.0 - margin_scores(proba)
    return np.asarray(np.clip(value, 0.0, 1.0), dtype=np.float64)


def map_chunks(
    X: Matrix,
    function: Callable[[Matrix], NDArray[np.float64]],
    *,
    chunk_rows: int = 16_384,
    n_threads: int = 2,
) -> NDArray[np.float64]:
    """Apply a row-wise ``function`` to ``X`` in chunks on a small thread pool.

    NumPy and BLAS release the GIL, so two threads use both cores of a small machine;
    only one chunk's intermediate results are held per thread.

    Parameters
    ----------
    X : array or sparse matrix of shape (n_items, n_features)
    function : callable
        Maps a block of rows to one float (or one row of floats) per row.
    chunk_rows : int
        Rows per chunk.
    n_threads : int
        Worker threads (1 runs sequentially).

    Returns
    -------
    numpy.ndarray of shape (n_items,) or (n_items, k)
    """
    n_rows = X.shape[0]
    starts = range(0, n_rows, chunk_rows)

    def one_chunk(start: int) -> NDArray[np.float64]:
        return np.asarray(function(X[start : start + chunk_rows]), dtype=np.float64)

    if n_threads <= 1 or n_rows <= chunk_rows:
        parts = [one_chunk(s) for s in starts]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as workers:
            parts = list(workers.map(one_chunk, starts))
    if not parts:
        return np.empty(0, dtype=np.float64)
    return np.concatenate(parts)


def linear_proba(model: object) -> Callable[[Matrix], FloatArray] | None:
    """Return a fast ``predict_proba`` for a fitted ``LogisticRegression``, else None.

    The probabilities are the model's own (softmax of the logits for several classes,
    the logistic function for two), computed in single precision from ``coef_`` and
    ``intercept_``: no input validation pass over ``X`` and half the memory traffic.
    They match ``predict_proba`` to about 1e-6. Models with one-vs-rest probabilities
    get None and use their own ``predict_proba``.
    """
    if not isinstance(model, LogisticRegression) or type(model) is not LogisticRegression:
        return None  # subclasses may change predict_proba
    if not hasattr(model, "coef_"):
        return None
    if getattr(model, "multi_class", "deprecated") == "ovr":
        return None
    weights = np.ascontiguousarray(model.coef_.T, dtype=np.float32)
    bias = np.asarray(model.intercept_, dtype=np.float32)
    binary = weights.shape[1] == 1

    def proba(block: Matrix) -> FloatArray:
        # Single precision throughout: a small block is cast while it sits in cache, and
        # the product then moves half the bytes of a float64 one.
        if sp.issparse(block):
            logits = np.asarray(block.astype(np.float32) @ weights)
        else:
            logits = np.asarray(block, dtype=np.float32) @ weights
        logits += bias
        if binary:
            positive = 1.0 / (1.0 + np.exp(-logits))
            return np.hstack([1.0 - positive, positive])
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    return proba


def score_pool(
    model: ProbabilisticClassifier,
    X: Matrix,
    score: ScoreFunction,
    *,
    chunk_rows: int = 4_096,
    n_threads: int = 2,
) -> NDArray[np.float64]:
    """Score every row of ``X`` without holding its whole probability matrix.

    Logistic regression takes a fast path (:func:`linear_proba`); other models are asked
    for ``predict_proba`` chunk by chunk. Chunks run on ``n_threads`` threads with BLAS
    limited to one thread each: skinny matrix products (few classes) use the cores
    better that way than one multi-threaded product.

    Parameters
    ----------
    model : ProbabilisticClassifier
        A fitted classifier; it is only read.
    X : array or sparse matrix of shape (n_items, n_features)
    score : callable
        One of the score functions of this module (or any ``proba -> scores``).
    chunk_rows, n_threads : int
        See :func:`map_chunks`.

    Returns
    -------
    numpy.ndarray of shape (n_items,)

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> score_pool(model, X, margin_scores).shape
    (4,)
    """
    proba = linear_proba(model) or model.predict_proba
    with threadpool_limits(1 if n_threads > 1 else None, user_api="blas"):
        return map_chunks(
            X,
            lambda block: score(proba(block)),
            chunk_rows=chunk_rows,
            n_threads=n_threads,
        )

"""A batch never spends two labels on copies of one input while other inputs are left."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from labelloop.learners import margin_sampling, top_n
from labelloop.learners._selection import distinct_top_n


def table_of_categories(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One-hot class (3) and sex (2): six distinct rows, a noisy outcome per cell."""
    rng = np.random.default_rng(seed)
    travel, sex = rng.integers(0, 3, n), rng.integers(0, 2, n)
    X = np.column_stack([travel == 0, travel == 1, travel == 2, sex == 0, sex == 1]).astype(float)
    p = 1 / (1 + np.exp(-(2.0 * sex - 1.0 * (travel - 1) - 1.0)))
    return X, (rng.random(n) < p).astype(int)


def test_margin_batches_take_every_distinct_row_before_any_copy() -> None:
    X, y = table_of_categories()
    model = LogisticRegression().fit(X[:60], y[:60])
    batch = margin_sampling(model, X, 10, rng=np.random.default_rng(1))
    rows = {X[i].tobytes() for i in batch.indices[:6]}
    assert len(rows) == 6  # all six cells, then copies fill the batch
    assert len(batch) == 10 and len(set(batch.indices.tolist())) == 10
    plain = top_n(-np.abs(model.predict_proba(X)[:, 1] - 0.5), 10, np.random.default_rng(1))
    assert len({X[i].tobytes() for i in plain.indices}) == 1  # what a plain top-n would do


def test_without_copies_it_is_top_n_with_the_same_draws() -> None:
    rng_scores = np.random.default_rng(3)
    X = rng_scores.normal(size=(200, 4))
    scores = np.round(rng_scores.random(200), 1)  # many ties, no copied rows
    a = distinct_top_n(scores, X, 15, np.random.default_rng(7))
    b = top_n(scores, 15, np.random.default_rng(7))
    assert a.indices.tolist() == b.indices.tolist()


def test_copied_texts_in_a_sparse_matrix_are_copies_too() -> None:
    X = sp.csr_matrix(np.array([[1, 0, 2], [1, 0, 2], [0, 3, 0], [1, 0, 2.0]]))
    batch = distinct_top_n(np.array([0.9, 0.9, 0.5, 0.9]), X, 2, np.random.default_rng(0))
    assert sorted(batch.scores.tolist()) == [0.5, 0.9]

"""One contract, every strategy: what a caller may rely on, whatever the strategy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from labelloop.learners import (
    STRATEGIES,
    BaggingCommittee,
    EmptyPoolError,
    PoolExhaustedError,
    Strategy,
)

ALL = list(STRATEGIES.values())


def model_for(strategy: Strategy, X: np.ndarray, y: np.ndarray) -> object:
    rows = np.r_[0:5, 50:55, 100:105]
    if strategy.committee:
        return BaggingCommittee(LogisticRegression(max_iter=500), n_members=3, random_state=0).fit(
            X[rows], y[rows]
        )
    return LogisticRegression(max_iter=500).fit(X[rows], y[rows])


@pytest.fixture(params=ALL, ids=[s.name for s in ALL])
def strategy(request: pytest.FixtureRequest) -> Strategy:
    return request.param


def test_returns_n_unique_positions_best_first(strategy: Strategy, iris_xy) -> None:
    X, y = iris_xy
    model = model_for(strategy, X, y)
    query = strategy.query(model, X, 12, rng=np.random.default_rng(0), X_labelled=X[:5])
    assert len(query) == 12
    assert len(set(query.indices.tolist())) == 12
    assert query.indices.min() >= 0 and query.indices.max() < X.shape[0]
    assert np.all(np.isfinite(query.scores))


def test_same_seed_same_query(strategy: Strategy, iris_xy) -> None:
    X, y = iris_xy
    model = model_for(strategy, X, y)
    first = strategy.query(model, X, 7, rng=np.random.default_rng(42), X_labelled=X[:5])
    second = strategy.query(model, X, 7, rng=np.random.default_rng(42), X_labelled=X[:5])
    assert first.indices.tolist() == second.indices.tolist()
    np.testing.assert_array_equal(first.scores, second.scores)


def test_query_leaves_the_model_unchanged(strategy: Strategy, iris_xy) -> None:
    X, y = iris_xy
    model = model_for(strategy, X, y)
    before = pickle.dumps(model)
    strategy.query(model, X, 5, rng=np.random.default_rng(0), X_labelled=X[:5])
    assert pickle.dumps(model) == before


def test_empty_pool_is_a_clear_error(strategy: Strategy, iris_xy) -> None:
    X, y = iris_xy
    model = model_for(strategy, X, y)
    with pytest.raises(EmptyPoolError, match="no unlabelled items"):
        strategy.query(model, X[:0], 1, rng=np.random.default_rng(0))


def test_exhausted_pool_is_a_clear_error(strategy: Strategy, iris_xy) -> None:
    X, y = iris_xy
    model = model_for(strategy, X, y)
    with pytest.raises(PoolExhaustedError, match=r"cannot query 5 item\(s\): only 4 unlabelled"):
        strategy.query(model, X[:4], 5, rng=np.random.default_rng(0))


def test_whole_pool_can_be_taken(strategy: Strategy, iris_xy) -> None:
    X, y = iris_xy
    model = model_for(strategy, X, y)
    query = strategy.query(model, X[:9], 9, rng=np.random.default_rng(0))
    assert sorted(query.indices.tolist()) == list(range(9))


def test_sparse_features_work(strategy: Strategy, iris_xy) -> None:
    X, y = iris_xy
    Xs = sp.csr_matrix(X)
    model = model_for(strategy, Xs, y)  # type: ignore[arg-type]
    query = strategy.query(model, Xs, 6, rng=np.random.default_rng(0), X_labelled=Xs[:5])
    assert len(set(query.indices.tolist())) == 6


def test_uncertainty_strategies_prefer_the_boundary(iris_xy) -> None:
    X, y = iris_xy
    model = model_for(STRATEGIES["margin"], X, y)
    query = STRATEGIES["margin"].query(model, X, 10, rng=np.random.default_rng(0))
    # setosa (rows 0-49) is easy; the uncertain items are versicolor/virginica
    assert np.all(query.indices >= 50)

"""Properties of the score functions over probability matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from labelloop.learners import entropy_scores, least_confidence_scores, margin_scores

SCORES = [least_confidence_scores, margin_scores, entropy_scores]


@st.composite
def simplex_rows(draw: st.DrawFn) -> NDArray[np.float64]:
    n_rows = draw(st.integers(1, 20))
    n_classes = draw(st.integers(2, 8))
    raw = draw(
        arrays(np.float64, (n_rows, n_classes), elements=st.floats(0.0, 1.0, allow_subnormal=False))
    )
    raw = raw + 1e-9
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("score", SCORES)
@given(proba=simplex_rows())
def test_one_finite_nonnegative_score_per_row(score, proba) -> None:
    values = score(proba)
    assert values.shape == (proba.shape[0],)
    assert np.all(np.isfinite(values))
    assert np.all(values >= -1e-12)


@pytest.mark.parametrize("score", SCORES)
@given(proba=simplex_rows(), data=st.data())
def test_invariant_to_class_order(score, proba, data) -> None:
    order = data.draw(st.permutations(range(proba.shape[1])))
    np.testing.assert_allclose(score(proba[:, order]), score(proba), atol=1e-12)


@pytest.mark.parametrize("score", SCORES)
@given(n_classes=st.integers(2, 12))
def test_uniform_is_most_uncertain_and_one_hot_is_certain(score, n_classes) -> None:
    uniform = np.full((1, n_classes), 1.0 / n_classes)
    one_hot = np.eye(n_classes)[:1]
    assert score(uniform)[0] > score(one_hot)[0]
    assert score(one_hot)[0] == pytest.approx(0.0, abs=1e-12)


@given(proba=simplex_rows())
def test_entropy_is_at_most_log_k(proba) -> None:
    assert np.all(entropy_scores(proba) <= np.log(proba.shape[1]) + 1e-9)


@given(proba=simplex_rows())
def test_uniform_row_maximises_each_score(proba) -> None:
    k = proba.shape[1]
    uniform = np.full((1, k), 1.0 / k)
    for score in SCORES:
        assert np.all(score(proba) <= score(uniform)[0] + 1e-9)


def test_margin_values() -> None:
    np.testing.assert_allclose(
        margin_scores(np.array([[0.6, 0.3, 0.1], [0.5, 0.5, 0.0]])), [0.7, 1.0]
    )


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_path_matches_predict_proba(n_classes: int, dtype: type) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from labelloop.learners import linear_proba, score_pool

    X, y = make_classification(
        n_samples=3000, n_features=20, n_informative=6, n_classes=n_classes, random_state=0
    )
    model = LogisticRegression(max_iter=500).fit(X[:300], y[:300])
    fast = linear_proba(model)
    assert fast is not None
    Xd = X.astype(dtype)
    np.testing.assert_allclose(fast(Xd), model.predict_proba(X), atol=1e-5)
    chunked = score_pool(model, Xd, margin_scores, chunk_rows=256, n_threads=2)
    np.testing.assert_allclose(chunked, margin_scores(model.predict_proba(X)), atol=1e-5)


def test_other_models_use_their_own_predict_proba() -> None:
    from sklearn.naive_bayes import GaussianNB

    from labelloop.learners import linear_proba

    assert linear_proba(GaussianNB()) is None


@given(
    values=arrays(
        np.float64, st.integers(1, 60), elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])
    ),
    data=st.data(),
)
def test_top_n_takes_the_n_largest_best_first(values, data) -> None:
    from labelloop.learners import top_n

    n = data.draw(st.integers(0, values.size))
    query = top_n(values, n, np.random.default_rng(data.draw(st.integers(0, 2**16))))
    assert len(set(query.indices.tolist())) == n
    assert np.all(np.diff(query.scores) <= 0)
    if n:
        assert np.sort(query.scores).tolist() == np.sort(values)[::-1][:n][::-1].tolist()

"""Properties of the score functions over probability matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from learners import entropy_scores, least_confidence_scores, margin_scores

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

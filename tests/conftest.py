"""Shared fixtures: small real data, fixed seeds."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

# Plain asserts in the shared helpers report their values, as they do in test modules.
pytest.register_assert_rewrite("tests.helpers")
os.environ.setdefault("MPLBACKEND", "Agg")
settings.register_profile("ci", max_examples=60, deadline=None)
settings.load_profile("ci")


@pytest.fixture
def iris_xy() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    return X, names[y]


@pytest.fixture
def fitted_iris(iris_xy: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    X, y = iris_xy
    rows = np.r_[0:5, 50:55, 100:105]
    return LogisticRegression(max_iter=500).fit(X[rows], y[rows])

"""PoolLearner: index sets, exclusions, cold start, reproducibility, typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labelloop.learners import (
    EmptyPoolError,
    NotEnoughLabelsError,
    PoolExhaustedError,
    PoolLearner,
    UnknownItemError,
)


def make(iris_xy, strategy: str = "margin", seed: int = 0, excluded=()) -> PoolLearner:
    X, _ = iris_xy
    ids = [f"item-{k:03d}" for k in range(X.shape[0])]
    return PoolLearner(
        LogisticRegression(max_iter=500),
        X,
        ids,
        strategy=strategy,
        excluded_ids=excluded,
        random_state=seed,
    )


def label_of(iris_xy, ids: list[str]) -> list[str]:
    _, y = iris_xy
    return [str(y[int(i.split("-")[1])]) for i in ids]


@pytest.mark.parametrize("strategy", ["margin", "qbc_vote_entropy", "diverse_margin"])
def test_never_returns_labelled_or_excluded_ids(iris_xy, strategy: str) -> None:
    excluded = [f"item-{k:03d}" for k in range(0, 150, 3)]
    learner = make(iris_xy, strategy, excluded=excluded)
    seen: set[str] = set()
    while learner.n_unlabelled:
        query = learner.query(min(10, learner.n_unlabelled))
        assert not seen & set(query.ids)
        assert not set(excluded) & set(query.ids)
        seen |= set(query.ids)
        learner.teach(query.ids, label_of(iris_xy, query.ids))
    assert len(seen) == 100
    with pytest.raises(PoolExhaustedError, match=r"only 0 of 150 item\(s\) are left"):
        learner.query(1)


def test_first_query_is_the_cold_start_then_the_strategy(iris_xy) -> None:
    learner = make(iris_xy)
    first = learner.query(6)
    assert first.strategy == "kmeans"
    learner.teach(first.ids, label_of(iris_xy, first.ids))
    assert learner.query(3).strategy == "margin"


def test_same_seed_same_sequence(iris_xy) -> None:
    runs = []
    for _ in range(2):
        learner = make(iris_xy, seed=7)
        picked = []
        for _ in range(4):
            query = learner.query(5)
            picked.append(query.ids)
            learner.teach(query.ids, label_of(iris_xy, query.ids))
        runs.append(picked)
    assert runs[0] == runs[1]


def test_one_class_means_no_model_yet(iris_xy) -> None:
    learner = make(iris_xy)
    learner.teach(["item-000", "item-001"], ["setosa", "setosa"])
    assert learner.model_ is None
    with pytest.raises(NotEnoughLabelsError, match=r"2 label\(s\) of 1 class\(es\)"):
        learner.require_model()
    assert learner.query(2).strategy == "kmeans"


def test_relabelling_replaces_the_label(iris_xy) -> None:
    learner = make(iris_xy)
    learner.teach(["item-000", "item-060"], ["setosa", "versicolor"])
    learner.teach(["item-060"], ["virginica"])
    assert learner.n_labelled == 2
    assert sorted(learner.model_.classes_.tolist()) == ["setosa", "virginica"]


def test_unknown_and_excluded_ids_are_refused(iris_xy) -> None:
    learner = make(iris_xy, excluded=["item-001"])
    with pytest.raises(UnknownItemError, match="'nope' is not in the pool"):
        learner.teach(["nope"], ["setosa"])
    with pytest.raises(ValueError, match="excluded"):
        learner.teach(["item-001"], ["setosa"])


def test_empty_pool() -> None:
    learner = PoolLearner(LogisticRegression(), np.empty((0, 3)), [], random_state=0)
    with pytest.raises(EmptyPoolError):
        learner.query(1)

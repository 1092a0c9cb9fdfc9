"""A share of each batch drawn at random: picks from the whole pool beside the boundary's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from labelloop.learners import (
    AUTO_EXPLORATION_CAP,
    EvaluationShare,
    PoolLearner,
    auto_exploration,
    exploration_count,
    margin_sampling,
    overconfidence,
    simulate,
)


def two_blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping Gaussian classes on a line: the boundary sits near x = 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = np.column_stack([rng.normal(2.0 * y - 1.0, 1.0), rng.normal(0.0, 1.0, n)])
    return X, y


def learner_with_labels(exploration: float, seed: int = 3) -> tuple[PoolLearner, np.ndarray]:
    X, y = two_blobs()
    ids = [f"i{k}" for k in range(len(y))]
    learner = PoolLearner(
        LogisticRegression(), X, ids, strategy="margin", random_state=seed, exploration=exploration
    )
    first = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    learner.teach([ids[k] for k in first], ["ab"[v] for v in y[first]])
    return learner, X


def test_the_strategy_picks_first_and_a_share_comes_from_anywhere() -> None:
    explorer, X = learner_with_labels(0.2)
    plain, _ = learner_with_labels(0.0)
    batch = explorer.query(10)
    assert batch.explored == 2 and len(set(batch.ids)) == 10
    # The first eight are the strategy's own best eight; the last two are unscored.
    assert batch.ids[:8] == plain.query(8).ids
    assert all(np.isfinite(batch.scores[:8])) and all(np.isnan(batch.scores[8:]))
    assert not set(batch.ids) & set(explorer.labelled_ids)

    # Over many batches the random picks are spread like the pool, while margin's sit on
    # the boundary: their mean distance from it is the pool's, not margin's.
    model = explorer.require_model()
    distance = np.abs(model.decision_function(X))
    explored, margins = [], []
    for seed in range(150):
        learner, _ = learner_with_labels(0.2, seed=seed)
        picks = learner.query(10)
        at = learner.positions(picks.ids)
        margins += distance[at[:8]].tolist()
        explored += distance[at[8:]].tolist()
    assert np.mean(margins) < 0.1
    assert np.mean(explored) == pytest.approx(np.mean(distance), rel=0.15)


def test_no_exploration_is_the_strategy_alone_with_the_same_draws() -> None:
    learner, X = learner_with_labels(0.0)
    batch = learner.query(10)
    labelled = learner.positions(learner.labelled_ids)
    candidates = np.flatnonzero(~np.isin(np.arange(len(X)), labelled))
    fresh, _ = learner_with_labels(0.0)
    alone = margin_sampling(fresh.require_model(), X[candidates], 10, rng=fresh.rng)
    assert batch.explored == 0
    assert learner.positions(batch.ids).tolist() == candidates[alone.indices].tolist()
    # Not one extra draw: the next query of a project is as it was before the setting.
    assert learner.rng.bit_generator.state == fresh.rng.bit_generator.state


def test_random_picks_skip_evaluation_held_and_labelled_items() -> None:
    X, y = two_blobs(120)
    ids = [f"i{k}" for k in range(120)]
    evaluation, held = ids[100:], ids[90:100]
    learner = PoolLearner(
        LogisticRegression(), X, ids, excluded_ids=evaluation, random_state=0, exploration=0.5
    )
    learner.teach(ids[:20], ["ab"[v] for v in y[:20]])
    learner.hold_out(held)
    seen: set[str] = set()
    for _ in range(30):
        batch = learner.query(10)
        assert batch.explored == 5 and len(set(batch.ids)) == 10
        seen |= set(batch.ids[5:])
    assert seen.isdisjoint(evaluation + held + ids[:20])
    assert len(seen) > 40  # drawn from all over the 70 items left, not a fixed few
    with pytest.raises(ValueError, match="positive integer"):
        learner.query(0)


def test_the_cold_start_and_random_are_never_split() -> None:
    X, _ = two_blobs(100)
    ids = [f"i{k}" for k in range(100)]
    cold = PoolLearner(LogisticRegression(), X, ids, random_state=0, exploration=0.5)
    assert cold.query(10).explored == 0  # no model yet: the k-means cold start, whole
    baseline = PoolLearner(
        LogisticRegression(), X, ids, strategy="random", random_state=0, exploration=0.5
    )
    baseline.teach(ids[:10], ["a", "b"] * 5)
    assert baseline.require_model() is not None and baseline.query(10).explored == 0


def test_the_share_holds_in_expectation_for_any_batch_size() -> None:
    rng = np.random.default_rng(0)
    singles = [exploration_count(1, 0.3, rng) for _ in range(4000)]
    assert set(singles) == {0, 1} and np.mean(singles) == pytest.approx(0.3, abs=0.03)
    tens = [exploration_count(10, 0.25, rng) for _ in range(4000)]
    assert set(tens) == {2, 3} and np.mean(tens) == pytest.approx(2.5, abs=0.05)
    assert exploration_count(10, 0.2, rng) == 2 and exploration_count(7, 0.0, rng) == 0


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    X, _ = two_blobs(20)
    with pytest.raises(ValueError, match="exploration"):
        PoolLearner(LogisticRegression(), X, [f"i{k}" for k in range(20)], exploration=share)


def test_overconfidence_is_how_far_confidence_exceeds_accuracy() -> None:
    X, y = two_blobs(1000, seed=1)
    held_out = slice(600, None)
    # Ten labels and almost no regularization: sure of itself, often wrong.
    few = LogisticRegression(C=1e4).fit(X[:10], y[:10])
    confidence = few.predict_proba(X[held_out]).max(axis=1).mean()
    accuracy = (few.predict(X[held_out]) == y[held_out]).mean()
    assert overconfidence(few, X[held_out], y[held_out]) == pytest.approx(confidence - accuracy)
    assert overconfidence(few, X[held_out], y[held_out]) > 0.05
    assert auto_exploration(few, X[held_out], y[held_out]) == pytest.approx(
        min(AUTO_EXPLORATION_CAP, 2 * (confidence - accuracy))
    )
    # Six hundred labels: the probabilities are honest, and nothing is drawn at random.
    many = LogisticRegression().fit(X[:600], y[:600])
    assert overconfidence(many, X[held_out], y[held_out]) < 0.03
    # No model, or no evaluation label yet: the strategy keeps the whole batch.
    assert auto_exploration(None, X[held_out], y[held_out]) == 0.0
    assert auto_exploration(few, X[:0], y[:0]) == 0.0


def test_auto_never_draws_more_than_half_a_batch() -> None:
    X, y = two_blobs(400, seed=2)
    wrong = LogisticRegression(C=1e4).fit(X[:50], 1 - y[:50])  # sure, and always wrong
    assert overconfidence(wrong, X[200:], y[200:]) > 0.5
    assert auto_exploration(wrong, X[200:], y[200:]) == AUTO_EXPLORATION_CAP == 0.5


def test_a_simulated_auto_share_reads_only_the_evaluation_labels_the_loop_would_have() -> None:
    X, y = two_blobs(400, seed=3)
    evaluation = np.arange(100, 400)
    model = LogisticRegression(C=1e4).fit(X[:10], y[:10])
    share = EvaluationShare("auto", X, y, evaluation, seed=5)
    assert share.next(model, 0) == 0.0
    seen = share.order[:20]
    assert set(seen) <= set(evaluation.tolist())
    assert share.next(model, 20) == auto_exploration(model, X[seen], y[seen])
    assert EvaluationShare(0.3, X, y, evaluation, seed=5).next(model, 20) == 0.3


def simulated_margin(
    X: np.ndarray, y: np.ndarray, n_eval: int, budget: int, **options: Any
) -> list[float]:
    """Accuracy curve of margin in a simulated loop; the last ``n_eval`` items evaluate."""
    run = simulate(
        options.pop("estimator", LogisticRegression()),
        X,
        [f"i{k}" for k in range(len(y))],
        np.array(["ab"[v] for v in y]),
        strategy="margin",
        seed=0,
        batch_size=10,
        budget=budget,
        eval_positions=np.arange(len(y) - n_eval, len(y)),
        initial_size=10,
        **options,
    )
    return [p.accuracy for p in run.points]


def test_auto_is_the_strategy_alone_while_the_model_is_honest_and_explores_when_not() -> None:
    def curve(X: np.ndarray, y: np.ndarray, exploration: float | str, C: float) -> list[float]:
        return simulated_margin(
            X, y, 200, 100, estimator=LogisticRegression(C=C), exploration=exploration
        )

    # Far-apart classes: every model is right as often as it claims; auto changes nothing.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 800)
    apart = np.column_stack([rng.normal(8.0 * y - 4.0, 1.0), rng.normal(0.0, 1.0, 800)])
    assert curve(apart, y, "auto", 1.0) == curve(apart, y, 0.0, 1.0)
    # A fifth of the labels flipped and little regularization: sure where it is wrong.
    noisy = np.where(rng.random(800) < 0.2, 1 - y, y)
    assert curve(apart, noisy, "auto", 1e4) != curve(apart, noisy, 0.0, 1e4)


def test_a_simulated_loop_reads_as_many_evaluation_labels_as_the_live_loop_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Live, each batch goes out with `per_batch` evaluation items: the model trained
    # after the k-th batch is measured on k * per_batch of them.
    import labelloop.learners._simulation as simulation

    seen: list[int] = []

    def counting(model: object, X: np.ndarray, y: np.ndarray) -> float:
        seen.append(len(y))
        return 0.0

    monkeypatch.setattr(simulation, "auto_exploration", counting)
    X, y = two_blobs(400, seed=4)
    simulated_margin(X, y, 100, 50, exploration="auto", evaluation_per_batch=7)
    assert seen == [7, 14, 21, 28, 35]

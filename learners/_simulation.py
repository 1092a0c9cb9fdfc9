"""Offline simulation: the loop in memory, with gold labels standing in for the annotator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, clone

from labelloop.learners._errors import EvaluationSetError
from labelloop.learners._evaluation import Metrics, evaluate
from labelloop.learners._learner import PoolLearner, auto_exploration
from labelloop.learners._modal_compat import apply_modal_shim
from labelloop.learners._stopping import StoppingCriterion
from labelloop.learners._types import Matrix

__all__ = [
    "CurvePoint",
    "EvaluationShare",
    "SimulationRun",
    "draw_evaluation_set",
    "draw_stop_set",
    "full_pool_metrics",
    "simulate",
]


@dataclass(frozen=True)
class CurvePoint:
    """Metrics of the model after one step of a simulated run."""

    strategy: str
    seed: int
    step: int
    n_labels: int
    accuracy: float
    macro_f1: float
    log_loss: float
    stop: bool
    #: Labels since the previous point drawn at random (the share of exploration).
    explored: int = 0


@dataclass
class SimulationRun:
    """One simulated run: its curve and the label count where the stopping rule fired."""

    strategy: str
    seed: int
    points: list[CurvePoint] = field(default_factory=list)
    stopped_at: int | None = None


def draw_evaluation_set(n_items: int, size: float | int, seed: int) -> NDArray[np.intp]:
    """Draw the evaluation positions once, at random, from ``seed``; in the order drawn.

    ``size`` below 1 is a share of the pool; 1 or more is a count. The draw depends only
    on ``seed`` and ``n_items``, so every strategy of a seed is judged on the same items,
    and the live loop, which asks people for them in this order (every prefix is a random
    sample), draws the same set as a simulation with the same seed.

    Raises
    ------
    EvaluationSetError
        When the set would be empty or leave nothing to learn from.

    Examples
    --------
    >>> draw_evaluation_set(10, 0.3, seed=0).tolist()
    [9, 4, 8]
    """
    count = round(size * n_items) if size < 1 else int(size)
    if not 0 < count < n_items:
        raise EvaluationSetError(
            f"evaluation.size: an evaluation set of {count} item(s) does not fit a pool of "
            f"{n_items}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    return rng.choice(n_items, size=count, replace=False).astype(np.intp)


def draw_stop_set(n_items: int, size: int, seed: int) -> NDArray[np.intp]:
    """Draw the fixed stop set the stopping rule watches, sorted, from ``seed``.

    Examples
    --------
    >>> draw_stop_set(10, 4, seed=0).tolist()
    [3, 7, 8, 9]
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    return np.sort(rng.choice(n_items, size=min(size, n_items), replace=False)).astype(np.intp)


def full_pool_metrics(
    estimator: BaseEstimator,
    X: Matrix,
    labels: NDArray[Any],
    eval_positions: NDArray[np.intp],
    classes: Sequence[Any],
) -> Metrics:
    """Metrics of a model trained on every non-evaluation item: the ceiling to reach."""
    train = np.setdiff1d(np.arange(X.shape[0]), eval_positions)
    model = clone(estimator).fit(X[train], labels[train])
    return evaluate(model, X[eval_positions], labels[eval_positions], classes)


class EvaluationShare:
    """The share of exploration for a simulated loop's next batch.

    A number is kept as it is. ``"auto"`` is :func:`auto_exploration` of the newest
    model on the first ``known`` evaluation items of a random order (the seed's own),
    as many as the live loop would have labelled by then.

    Parameters
    ----------
    setting : float or "auto"
    X : matrix
        Features of the whole pool.
    labels : array
        Gold labels of the whole pool.
    eval_positions : array of int
        Positions of the evaluation items.
    seed : int
        Orders the evaluation items.
    """

    def __init__(
        self,
        setting: float | str,
        X: Matrix,
        labels: NDArray[Any],
        eval_positions: NDArray[np.intp],
        seed: int,
    ) -> None:
        self.setting = setting
        self.X = X
        self.labels = labels
        self.order = np.random.default_rng([seed, 11]).permutation(eval_positions)

    @property
    def first(self) -> float:
        """Return the share before any model is measured (0 under ``"auto"``)."""
        return 0.0 if self.setting == "auto" else float(self.setting)

    def next(self, model: Any, known: int) -> float:
        """Return the share for the batch after ``model``, with ``known`` evaluation labels."""
        if self.setting != "auto":
            return float(self.setting)
        seen = self.order[:known]
        return auto_exploration(model, self.X[seen], self.labels[seen])


def simulate(
    estimator: BaseEstimator,
    X: Matrix,
    ids: Sequence[str] | NDArray[np.str_],
    labels: NDArray[Any],
    *,
    strategy: str,
    seed: int,
    batch_size: int,
    budget: int,
    eval_positions: NDArray[np.intp],
    initial_size: int | None = None,
    cold_start: str = "kmeans",
    exploration: float | str = 0.0,
    evaluation_per_batch: int | None = None,
    stopping: StoppingCriterion | None = None,
    stop_positions: NDArray[np.intp] | None = None,
    on_step: Callable[[CurvePoint], None] | None = None,
) -> SimulationRun:
    """Run the active-learning loop with gold labels as the annotator.

    Step 0 labels ``initial_size`` items picked by ``cold_start``; each later step labels
    ``batch_size`` items picked by ``strategy`` (a share ``exploration`` of them at random,
    see :class:`PoolLearner`), retrains a fresh clone and evaluates on
    the evaluation set. With ``exploration="auto"`` the share of each batch is
    :func:`auto_exploration` of the last model on the evaluation labels the live loop
    would have by then: ``evaluation_per_batch`` (by default ``batch_size``) more with
    every batch, in a random order. Stops when ``budget`` labels are reached or the pool
    runs out. The stopping rule, if given, is checked on the fixed stop set ``stop_positions``
    (by default :func:`draw_stop_set` of 1,000 items, as the live loop draws it) after
    every step; the label count where it first fires is recorded, and the run goes on to
    the budget so the whole curve can be compared.

    Returns
    -------
    SimulationRun
    """
    apply_modal_shim()
    ids = np.asarray(ids, dtype=str)
    labels = np.asarray(labels, dtype=object)
    classes = sorted({str(v) for v in labels})
    # One seed per run; evaluation draw, stop set and learner get independent streams.
    stream = np.random.SeedSequence([seed, 2])
    learner_rng = np.random.default_rng(stream.spawn(2)[0])
    learner = PoolLearner(
        estimator,
        X,
        ids,
        strategy=strategy,
        cold_start=cold_start,
        excluded_ids=ids[eval_positions],
        random_state=learner_rng,
    )
    share = EvaluationShare(exploration, X, labels, eval_positions, seed)
    learner.exploration = share.first
    per_batch = evaluation_per_batch or batch_size
    pool_positions = np.setdiff1d(np.arange(len(ids)), eval_positions)
    if stop_positions is None:
        stop_positions = draw_stop_set(len(ids), 1_000, seed)
    X_eval, y_eval = X[eval_positions], labels[eval_positions]
    budget = min(budget, pool_positions.size)
    run = SimulationRun(strategy=strategy, seed=seed)
    size = initial_size or batch_size
    step = 0
    explored = 0  # random picks since the last point
    while learner.n_labelled < budget:
        size = min(size, budget - learner.n_labelled)
        query = learner.query(size)
        explored += query.explored
        learner.teach(query.ids, labels[learner.positions(query.ids)].tolist())
        size = batch_size
        model = learner.model_
        if model is None:  # a batch of one class only: no model yet, keep labelling
            step += 1
            continue
        metrics = evaluate(model, X_eval, y_eval, classes)
        learner.exploration = share.next(model, per_batch * (step + 1))
        stop = False
        if stopping is not None:
            stop = stopping.update(model, X[stop_positions]).stop
            if stop and run.stopped_at is None:
                run.stopped_at = learner.n_labelled
        point = CurvePoint(
            strategy=strategy,
            seed=seed,
            step=step,
            n_labels=learner.n_labelled,
            accuracy=metrics.accuracy,
            macro_f1=metrics.macro_f1,
            log_loss=metrics.log_loss,
            stop=stop,
            explored=explored,
        )
        explored = 0
        run.points.append(point)
        if on_step is not None:
            on_step(point)
        step += 1
    return run

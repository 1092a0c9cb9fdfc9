"""The active learner: a fixed pool, index sets of labelled items, modAL fitting underneath."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from modAL.models import ActiveLearner
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, clone

from labelloop.learners._committee import BaggingCommittee
from labelloop.learners._errors import (
    EmptyPoolError,
    NotEnoughLabelsError,
    PoolExhaustedError,
    UnknownItemError,
)
from labelloop.learners._modal_compat import apply_modal_shim
from labelloop.learners._strategies import Strategy, get_strategy
from labelloop.learners._types import Matrix

__all__ = [
    "AUTO_EXPLORATION_CAP",
    "ItemQuery",
    "PoolLearner",
    "AUTO_EXPLORATION_GAIN",
    "auto_exploration",
    "auto_share",
    "exploration_count",
    "overconfidence",
]

#: The most ``exploration: auto`` ever draws at random: half of each batch.
AUTO_EXPLORATION_CAP = 0.5
#: ``exploration: auto`` draws this many times the model's overconfidence at random.
AUTO_EXPLORATION_GAIN = 2.0


@dataclass(frozen=True)
class ItemQuery:
    """Items chosen for labelling, best first, by item id.

    The last ``explored`` of them were drawn at random (the share of exploration).
    """

    ids: list[str]
    scores: list[float]
    strategy: str
    explored: int = 0

    def __len__(self) -> int:
        return len(self.ids)


def exploration_count(n: int, share: float, rng: np.random.Generator) -> int:
    """How many of a batch of ``n`` picks are drawn at random for a share of exploration.

    ``share * n`` rounded at random (up with the probability of its fraction), so the
    expected count is exactly ``share * n`` for any batch size, single picks included.
    The generator is only drawn from when ``share * n`` is not a whole number.

    Parameters
    ----------
    n : int
        Batch size.
    share : float
        Share of the batch drawn at random, in ``[0, 1)``.
    rng : numpy.random.Generator
        Draws the rounding; untouched when ``share * n`` is whole.

    Returns
    -------
    int
        Between 0 and ``n``.

    Examples
    --------
    >>> exploration_count(10, 0.2, np.random.default_rng(0))
    2
    >>> exploration_count(10, 0.0, np.random.default_rng(0))
    0
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"exploration share must be in [0, 1), got {share}")
    expected = share * n
    whole = int(np.floor(expected + 1e-9))
    fraction = expected - whole
    if fraction > 1e-9 and rng.random() < fraction:
        whole += 1
    return min(whole, n)


def overconfidence(model: Any, X: Matrix, y: Sequence[Any] | NDArray[Any]) -> float:
    """How far a model's confidence exceeds its accuracy on labelled items, at least 0.

    The mean of the top predicted probability minus the share predicted right. A model
    that claims 90% where it is right 70% of the time scores 0.2; an honest or
    underconfident one scores 0. A label the model never saw counts as a miss.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba`` and ``classes_``
    X : matrix
        Features of the items (the labelled evaluation items).
    y : sequence
        Their labels.

    Returns
    -------
    float
        In ``[0, 1]``; 0 for no items. For a model whose probabilities are all 0 or 1
        (a single decision tree, one nearest neighbour) it is the error rate.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> model = DummyClassifier(strategy="prior").fit([[0]] * 4, ["a", "a", "a", "b"])
    >>> overconfidence(model, [[0]] * 4, ["a", "b", "b", "b"])  # claims 75%, right 25%
    0.5
    """
    y_true = np.asarray(y, dtype=object)
    if y_true.shape[0] == 0:
        return 0.0
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    predicted = np.asarray(model.classes_, dtype=object)[proba.argmax(axis=1)]
    right = np.asarray([str(p) == str(t) for p, t in zip(predicted, y_true, strict=True)])
    return max(0.0, float(proba.max(axis=1).mean() - right.mean()))


def auto_exploration(model: Any, X: Matrix, y: Sequence[Any] | NDArray[Any]) -> float:
    """Return the share of a batch that ``exploration: auto`` draws at random.

    Twice the model's :func:`overconfidence` on the labelled evaluation items, at most
    :data:`AUTO_EXPLORATION_CAP`. Uncertainty sampling trusts the model's probabilities:
    where they claim more than the model achieves, it is sure where it is wrong and its
    picks miss those regions, so part of the batch is drawn at random. A model as
    accurate as it claims leaves the strategy the whole batch.

    Parameters
    ----------
    model : fitted classifier, or None
        None (no model yet) gives 0.
    X : matrix
        Features of the labelled evaluation items.
    y : sequence
        Their labels; none gives 0.

    Returns
    -------
    float
        In ``[0, AUTO_EXPLORATION_CAP]``.
    """
    if model is None or len(y) == 0:
        return 0.0
    return auto_share(overconfidence(model, X, y))


def auto_share(overclaim: float) -> float:
    """Return the share ``exploration: auto`` draws at random for a measured overconfidence.

    Examples
    --------
    >>> auto_share(0.1), auto_share(0.0), auto_share(0.4)
    (0.2, 0.0, 0.5)
    """
    return min(AUTO_EXPLORATION_CAP, AUTO_EXPLORATION_GAIN * max(0.0, overclaim))


class PoolLearner:
    """Pick, learn, repeat, over a fixed pool addressed by item ids.

    The pool never changes: the learner keeps the set of labelled positions and the set
    of excluded ones (the evaluation set), so a query can only return unlabelled,
    non-excluded ids. Each :meth:`fit` trains a fresh clone of ``estimator`` on all labels
    through modAL's ``ActiveLearner``.

    Parameters
    ----------
    estimator : scikit-learn classifier with ``predict_proba``
        Template; cloned for every fit.
    X : matrix of shape (n_items, n_features)
        Features of every pool item, in the order of ``ids``.
    ids : sequence of str
        Item ids, unique.
    strategy : str
        Acquisition strategy once a model exists (see :data:`learners.STRATEGIES`).
    cold_start : str
        Strategy for queries before a model can be trained (``kmeans`` or ``random``).
    excluded_ids : iterable of str
        Items never queried nor trained on (the evaluation set).
    random_state : int or numpy.random.Generator, optional
        The one source of randomness of this learner.
    committee_size : int
        Members of the committee for query-by-committee strategies.
    exploration : float
        Share of each batch drawn uniformly at random from the unlabelled items once a
        model exists (see :func:`exploration_count`); the strategy picks the rest.
        Uncertainty picks from a model trained on a few labels can cluster where that
        model is wrong; random picks keep the labelled set close to the pool's mix.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.arange(20, dtype=float).reshape(10, 2)
    >>> learner = PoolLearner(LogisticRegression(), X, [f"i{k}" for k in range(10)],
    ...                       strategy="margin", random_state=0)
    >>> first = learner.query(4)      # no labels yet: the k-means cold start
    >>> learner.teach(first.ids, ["a", "a", "b", "b"])
    >>> len(learner.query(2)), learner.n_labelled
    (2, 4)
    """

    def __init__(
        self,
        estimator: BaseEstimator,
        X: Matrix,
        ids: Sequence[str] | NDArray[np.str_],
        *,
        strategy: str = "margin",
        cold_start: str = "kmeans",
        excluded_ids: Iterable[str] = (),
        random_state: int | np.random.Generator | None = None,
        committee_size: int = 5,
        exploration: float = 0.0,
    ) -> None:
        apply_modal_shim()
        if not 0.0 <= exploration < 1.0:
            raise ValueError(f"exploration must be in [0, 1), got {exploration}")
        self.exploration = exploration
        self.estimator = estimator
        self.X = X
        self.ids = np.asarray(ids, dtype=str)
        if self.ids.shape[0] != X.shape[0]:
            raise ValueError(f"{self.ids.shape[0]} ids for {X.shape[0]} feature rows")
        self._position = {item: k for k, item in enumerate(self.ids.tolist())}
        if len(self._position) != len(self.ids):
            raise ValueError("item ids must be unique")
        self.strategy: Strategy = get_strategy(strategy)
        self.cold_start: Strategy = get_strategy(cold_start)
        if self.cold_start.needs_model:
            raise ValueError(f"cold_start must work without a model, got {cold_start!r}")
        self.committee_size = committee_size
        self.rng = np.random.default_rng(random_state)
        self._available = np.ones(len(self.ids), dtype=bool)
        self._available[self.positions(excluded_ids)] = False
        self._held = np.zeros(len(self.ids), dtype=bool)
        self._labels: dict[int, Any] = {}
        self.model_: Any = None

    def hold_out(self, ids: Iterable[str]) -> None:
        """Keep these items out of queries until the next call (e.g. machine-labelled ones).

        Unlike ``excluded_ids`` this is temporary: each call replaces the held set.
        """
        self._held[:] = False
        self._held[self.positions(ids)] = True

    def positions(self, ids: Iterable[str]) -> NDArray[np.intp]:
        """Map item ids to positions; an ``UnknownItemError`` names an unknown id."""
        try:
            return np.asarray([self._position[i] for i in ids], dtype=np.intp)
        except KeyError as exc:
            raise UnknownItemError(f"item id {exc.args[0]!r} is not in the pool") from None

    @property
    def n_labelled(self) -> int:
        """Number of labelled items."""
        return len(self._labels)

    @property
    def n_unlabelled(self) -> int:
        """Items still available to query (not labelled, not excluded)."""
        return int(self._available.sum())

    @property
    def labelled_ids(self) -> list[str]:
        """Ids of labelled items, in the order they were taught."""
        return [str(self.ids[p]) for p in self._labels]

    def teach(self, ids: Sequence[str], labels: Sequence[Any], *, refit: bool = True) -> None:
        """Record labels (a later label for the same id replaces the earlier) and refit.

        Raises
        ------
        KeyError
            For an id not in the pool.
        ValueError
            For an excluded (evaluation) id, or mismatched lengths.
        """
        if len(ids) != len(labels):
            raise ValueError(f"{len(ids)} ids but {len(labels)} labels")
        positions = self.positions(ids)
        for position, label in zip(positions.tolist(), labels, strict=True):
            if not self._available[position] and position not in self._labels:
                raise ValueError(f"item {self.ids[position]!r} is excluded (evaluation set)")
            self._labels[position] = label
            self._available[position] = False
        if refit:
            self.fit()

    def fit(self) -> Any:
        """Train a fresh clone of the estimator on every label; None if under 2 classes."""
        if not self._labels:
            self.model_ = None
            return None
        rows = np.fromiter(self._labels, dtype=np.intp)
        y = np.asarray(list(self._labels.values()), dtype=object)
        if np.unique(y).size < 2:
            self.model_ = None
            return None
        X_train = self.X[rows]
        if self.strategy.committee:
            seed = int(self.rng.integers(2**31 - 1))
            committee = BaggingCommittee(self.estimator, self.committee_size, random_state=seed)
            self.model_ = committee.fit(X_train, y)
        else:
            learner = ActiveLearner(
                estimator=clone(self.estimator), X_training=X_train, y_training=y
            )
            self.model_ = learner.estimator
        return self.model_

    def query(self, n: int) -> ItemQuery:
        """Choose ``n`` unlabelled items, best first.

        Uses the cold-start strategy while no model can be trained. With a model and a
        share of ``exploration``, the strategy's picks come first, then the random ones,
        scored NaN (not chosen by the strategy, as evaluation items are); ``explored``
        counts them.

        Raises
        ------
        EmptyPoolError
            If the pool has no items.
        PoolExhaustedError
            If fewer than ``n`` items are left to label.
        """
        if len(self.ids) == 0:
            raise EmptyPoolError("cannot query: the pool has no items")
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        candidates = np.flatnonzero(self._available & ~self._held)
        if n > candidates.size:
            raise PoolExhaustedError(
                f"cannot query {n} item(s): only {candidates.size} of {len(self.ids)} "
                f"item(s) are left unlabelled"
            )
        strategy = self.strategy if self.model_ is not None else self.cold_start
        explored = 0
        if strategy.needs_model and self.exploration > 0:
            explored = exploration_count(n, self.exploration, self.rng)
        X_labelled = self.X[np.fromiter(self._labels, dtype=np.intp)] if self._labels else None
        picked: NDArray[np.intp] = np.empty(0, dtype=np.intp)
        scores: list[float] = []
        if n - explored > 0:
            chosen = strategy.query(
                self.model_, self.X[candidates], n - explored, rng=self.rng, X_labelled=X_labelled
            )
            picked = candidates[chosen.indices]
            scores = [float(s) for s in chosen.scores]
        if explored:
            rest = np.setdiff1d(candidates, picked, assume_unique=True)
            drawn = self.rng.choice(rest, size=explored, replace=False).astype(np.intp)
            picked = np.concatenate([picked, drawn])
            scores += [float("nan")] * explored
        return ItemQuery(
            ids=[str(i) for i in self.ids[picked]],
            scores=scores,
            strategy=strategy.name,
            explored=explored,
        )

    def require_model(self) -> Any:
        """Return the fitted model, or raise :class:`NotEnoughLabelsError`."""
        if self.model_ is None:
            classes = len({str(v) for v in self._labels.values()})
            raise NotEnoughLabelsError(
                f"no model yet: {self.n_labelled} label(s) of {classes} class(es); "
                "training needs at least 2 classes"
            )
        return self.model_

"""Stopping criteria: when more labels will not pay.

A criterion has two halves. ``observe`` measures one new model on the fixed stop set
(kappa against the previous model's predictions, or the mean uncertainty), and
``decide`` turns the history of those measurements into a :class:`Verdict`. The
simulation keeps the history in the criterion; the live loop stores each cycle's
measurement and calls the same ``decide`` on what it stored, so both make one decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import cohen_kappa_score

from labelloop.learners._scores import least_confidence_scores
from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = [
    "OverallUncertainty",
    "StabilizingPredictions",
    "StoppingCriterion",
    "Verdict",
    "mean_uncertainty",
    "prediction_kappa",
]


@dataclass(frozen=True)
class Verdict:
    """One check of a stopping criterion: stop or not, the value behind it, and why."""

    stop: bool
    value: float
    reason: str


class StoppingCriterion(Protocol):
    """Looks at each new model on a fixed stop set and says whether to stop."""

    def update(self, model: ProbabilisticClassifier, X_stop: Matrix) -> Verdict:
        """Record the new model's behaviour on the stop set; return the verdict."""
        ...

    def decide(self, history: Sequence[float]) -> Verdict:
        """Return the verdict on a history of measurements, oldest first."""
        ...


def prediction_kappa(
    previous: Sequence[Any] | NDArray[Any], current: Sequence[Any] | NDArray[Any]
) -> float:
    """Cohen's kappa between two models' predictions on the same items.

    Identical predictions give 1.0 (also when they are constant, where Cohen's kappa
    is undefined); two different constant predictions give 0.0.

    Examples
    --------
    >>> prediction_kappa(["a", "b", "b"], ["a", "b", "b"])
    1.0
    >>> prediction_kappa(["a", "a"], ["b", "b"])
    0.0
    """
    a, b = np.asarray(previous, dtype=object), np.asarray(current, dtype=object)
    if np.array_equal(a, b):
        return 1.0
    if np.unique(a).size == 1 and np.unique(b).size == 1:
        return 0.0
    return float(cohen_kappa_score(a, b))


def mean_uncertainty(proba: NDArray[np.floating[Any]]) -> float:
    """Mean least-confidence score of a probability matrix (the overall-uncertainty measure).

    Examples
    --------
    >>> round(mean_uncertainty(np.array([[0.9, 0.1], [0.5, 0.5]])), 3)
    0.3
    """
    return float(np.mean(least_confidence_scores(proba)))


@dataclass
class StabilizingPredictions:
    """Stop when successive models agree: Cohen's kappa on a fixed stop set.

    After Bloodgood & Vijay-Shanker (2009), "stabilizing predictions".

    Parameters
    ----------
    window : int
        How many successive kappas must all reach ``threshold``.
    threshold : float
        Kappa needed between one model's predictions and the previous model's.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> criterion = StabilizingPredictions(window=1, threshold=0.99)
    >>> model = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> criterion.update(model, X).stop, criterion.update(model, X).stop
    (False, True)
    >>> criterion.decide([0.5, 1.0]).reason
    'kappa >= 0.99 for the last 1 models'
    """

    window: int = 3
    threshold: float = 0.99
    kappas: list[float] = field(default_factory=list)
    _previous: NDArray[Any] | None = field(default=None, repr=False)

    def observe(self, model: ProbabilisticClassifier, X_stop: Matrix) -> float | None:
        """Return the kappa against the previous model (None for the first model)."""
        proba = model.predict_proba(X_stop)
        predictions = np.asarray(model.classes_)[np.argmax(proba, axis=1)]
        previous, self._previous = self._previous, predictions
        return None if previous is None else prediction_kappa(previous, predictions)

    def decide(self, history: Sequence[float]) -> Verdict:
        """Stop when the last ``window`` kappas all reach ``threshold``."""
        recent = list(history)[-self.window :]
        if not recent:
            return Verdict(False, float("nan"), "first model: nothing to compare with yet")
        stop = len(recent) == self.window and min(recent) >= self.threshold
        reason = (
            f"kappa >= {self.threshold} for the last {self.window} models"
            if stop
            else f"kappa {', '.join(f'{k:.4f}' for k in recent)}; "
            f"need {self.window} in a row >= {self.threshold}"
        )
        return Verdict(stop, recent[-1], reason)

    def update(self, model: ProbabilisticClassifier, X_stop: Matrix) -> Verdict:
        """Compare the new model's stop-set predictions with the previous model's."""
        kappa = self.observe(model, X_stop)
        if kappa is None:
            return self.decide([])
        self.kappas.append(kappa)
        return self.decide(self.kappas)


@dataclass
class OverallUncertainty:
    """Stop when the mean least-confidence score on the stop set falls below ``threshold``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [10.0]])
    >>> model = LogisticRegression(C=100).fit(X, [0, 1])
    >>> OverallUncertainty(threshold=0.2).update(model, X).stop
    True
    """

    threshold: float = 0.1
    history: list[float] = field(default_factory=list)

    def observe(self, model: ProbabilisticClassifier, X_stop: Matrix) -> float:
        """Return the stop set's mean uncertainty under the new model."""
        return mean_uncertainty(model.predict_proba(X_stop))

    def decide(self, history: Sequence[float]) -> Verdict:
        """Stop when the latest mean uncertainty is below ``threshold``."""
        if not history:
            return Verdict(False, float("nan"), "no model yet")
        value = float(history[-1])
        stop = value < self.threshold
        relation = "<" if stop else ">="
        return Verdict(stop, value, f"mean uncertainty {value:.4f} {relation} {self.threshold}")

    def update(self, model: ProbabilisticClassifier, X_stop: Matrix) -> Verdict:
        """Compute the stop set's mean uncertainty under the new model."""
        self.history.append(self.observe(model, X_stop))
        return self.decide(self.history)

"""Stopping criteria: when more labels will not pay."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import cohen_kappa_score

from labelloop.learners._scores import least_confidence_scores
from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = ["OverallUncertainty", "StabilizingPredictions", "StoppingCriterion", "Verdict"]


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
    """

    window: int = 3
    threshold: float = 0.99
    kappas: list[float] = field(default_factory=list)
    _previous: NDArray[Any] | None = field(default=None, repr=False)

    def update(self, model: ProbabilisticClassifier, X_stop: Matrix) -> Verdict:
        """Compare the new model's stop-set predictions with the previous model's."""
        proba = model.predict_proba(X_stop)
        predictions = np.asarray(model.classes_)[np.argmax(proba, axis=1)]
        previous, self._previous = self._previous, predictions
        if previous is None:
            return Verdict(False, float("nan"), "first model: nothing to compare with yet")
        kappa = _kappa(previous, predictions)
        self.kappas.append(kappa)
        recent = self.kappas[-self.window :]
        stop = len(recent) == self.window and min(recent) >= self.threshold
        reason = (
            f"kappa >= {self.threshold} for the last {self.window} models"
            if stop
            else f"kappa {kappa:.4f}; need {self.window} in a row >= {self.threshold}"
        )
        return Verdict(stop, kappa, reason)


def _kappa(a: NDArray[Any], b: NDArray[Any]) -> float:
    if np.array_equal(a, b):
        return 1.0
    if np.unique(a).size == 1 and np.unique(b).size == 1:
        return 0.0
    return float(cohen_kappa_score(a, b))


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

    def update(self, model: ProbabilisticClassifier, X_stop: Matrix) -> Verdict:
        """Compute the stop set's mean uncertainty under the new model."""
        value = float(np.mean(least_confidence_scores(model.predict_proba(X_stop))))
        self.history.append(value)
        stop = value < self.threshold
        relation = "<" if stop else ">="
        return Verdict(stop, value, f"mean uncertainty {value:.4f} {relation} {self.threshold}")

"""Evaluation on the held-out set: accuracy, macro-F1 and log loss over the full label set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, f1_score, log_loss

from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = ["Metrics", "aligned_proba", "evaluate"]


@dataclass(frozen=True)
class Metrics:
    """Evaluation metrics of one model on one evaluation set."""

    accuracy: float
    macro_f1: float
    log_loss: float
    n_eval: int

    def as_dict(self) -> dict[str, float]:
        """Return the metrics as a plain dict (for JSON and MLflow)."""
        return {k: float(v) for k, v in asdict(self).items()}


def aligned_proba(
    model: ProbabilisticClassifier, X: Matrix, labels: Sequence[Any]
) -> NDArray[np.float64]:
    """Return ``predict_proba`` with one column per entry of ``labels``.

    A model trained before it saw every class has fewer columns; the missing classes get
    probability 0.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit([[0.0], [1.0]], ["a", "b"])
    >>> aligned_proba(model, [[0.0]], ["a", "b", "c"]).shape
    (1, 3)
    """
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    column_of = {c: i for i, c in enumerate(labels)}
    out = np.zeros((proba.shape[0], len(labels)), dtype=np.float64)
    for j, cls in enumerate(model.classes_):
        if cls in column_of:
            out[:, column_of[cls]] = proba[:, j]
    return out


def evaluate(
    model: ProbabilisticClassifier,
    X: Matrix,
    y: Sequence[Any] | NDArray[Any],
    labels: Sequence[Any],
) -> Metrics:
    """Score a fitted model on an evaluation set.

    Parameters
    ----------
    model : ProbabilisticClassifier
    X : matrix of the evaluation items
    y : their gold (or human) labels
    labels : the full label set, so that classes the model never saw still count

    Returns
    -------
    Metrics
        ``log_loss`` clips probabilities at 1e-15, so a missing class is a finite penalty.
    """
    y_true = np.asarray(y, dtype=object)
    labels = list(labels)
    proba = aligned_proba(model, X, labels)
    predicted = np.asarray(labels, dtype=object)[proba.argmax(axis=1)]
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return Metrics(
        accuracy=float(accuracy_score(y_true, predicted)),
        macro_f1=float(
            f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)
        ),
        log_loss=float(log_loss(y_true, clipped, labels=labels)),
        n_eval=int(y_true.shape[0]),
    )

"""Evaluation on the held-out set: accuracy, macro-F1 and log loss over the full label set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = ["Metrics", "aligned_proba", "evaluate", "standard_metrics"]


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


def standard_metrics(
    y: Sequence[Any] | NDArray[Any], proba: NDArray[np.float64], labels: Sequence[Any]
) -> dict[str, float]:
    """Classifier metrics under the names ``mlflow.models.evaluate`` gives them.

    So runs compare with other projects' runs in the MLflow UI: ``example_count``,
    ``accuracy_score``, ``precision_score``, ``recall_score``, ``f1_score`` (weighted over
    classes; for two classes, of the second label as the positive class, as MLflow does
    with ``pos_label``) and ``roc_auc`` (one-vs-rest, weighted; only when every class of
    the label set occurs in ``y``).

    Parameters
    ----------
    y : the true labels
    proba : probabilities, one column per entry of ``labels``
    labels : the full label set

    Returns
    -------
    dict
        Metric name to value.

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> m = standard_metrics(["a", "b", "b"], proba, ["a", "b"])
    >>> m["accuracy_score"], m["recall_score"], m["example_count"]
    (0.6666666666666666, 0.5, 3.0)
    """
    y_true = np.asarray(y, dtype=object)
    labels = list(labels)
    predicted = np.asarray(labels, dtype=object)[proba.argmax(axis=1)]
    binary = len(labels) == 2
    average: dict[str, Any] = (
        {"average": "binary", "pos_label": labels[1]}
        if binary
        else {"average": "weighted", "labels": labels}
    )
    out = {
        "example_count": float(len(y_true)),
        "accuracy_score": float(accuracy_score(y_true, predicted)),
        "precision_score": float(precision_score(y_true, predicted, zero_division=0, **average)),
        "recall_score": float(recall_score(y_true, predicted, zero_division=0, **average)),
        "f1_score": float(f1_score(y_true, predicted, zero_division=0, **average)),
    }
    if set(labels) <= set(y_true.tolist()):
        if binary:
            out["roc_auc"] = float(roc_auc_score(y_true == labels[1], proba[:, 1]))
        else:
            out["roc_auc"] = float(
                roc_auc_score(y_true, proba, labels=labels, multi_class="ovr", average="weighted")
            )
    return out

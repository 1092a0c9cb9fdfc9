"""Is active learning paying? The cycle's model against random sampling's estimated curve.

Each cycle with enough labelled evaluation items estimates what random sampling would
have scored with the same number of labels (:func:`estimate_random_curve`, from the
evaluation set, a random sample people labelled) and how many labels random sampling
would have needed to match the cycle's model (:func:`labels_saved`). The figures go in
the cycle's metrics (so MLflow charts both curves) and ``status`` says in one line
whether active learning is paying, and what to try when it is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sklearn.base import BaseEstimator

from labelloop.learners import Matrix, curve_reach, estimate_random_curve, labels_saved

__all__ = ["MIN_EVAL", "paying_metrics", "paying_verdict"]

MIN_EVAL = 30  # labelled evaluation items before the estimate means anything
REPEATS = 6  # random splits per size: enough for an interval, cheap enough per cycle


def paying_metrics(
    estimator: BaseEstimator,
    X_eval: Matrix,
    y_eval: Sequence[Any],
    labels: Sequence[Any],
    n_labels: int,
    score: float,
    *,
    metric: str,
    seed: int = 0,
) -> dict[str, float]:
    """Return random sampling's estimate at ``n_labels`` and the labels saved, as metrics.

    Keys: ``random_<metric>`` with ``_low`` and ``_high`` (its 95% interval) when
    ``n_labels`` is within the evaluation set's reach; ``labels_saved`` with ``_low``
    and ``_high`` when random sampling's curve reaches ``score`` within it;
    ``random_reach`` always. Empty below :data:`MIN_EVAL` labelled evaluation items.
    """
    if len(y_eval) < MIN_EVAL or n_labels < 1:
        return {}
    # Sizes around the cycle's labels, and the far end (where labels saved is read).
    reach = curve_reach(len(y_eval))
    grid = {n_labels, n_labels // 2, (3 * n_labels) // 2, 2 * n_labels, 3 * n_labels, reach}
    curve = estimate_random_curve(
        estimator,
        X_eval,
        y_eval,
        labels,
        sorted(grid),
        metric=metric,
        repeats=REPEATS,
        seed=seed,
    )
    out: dict[str, float] = {"random_reach": float(curve.reach)}
    at = curve.at(n_labels)
    if at is not None:
        out[f"random_{metric}"], out[f"random_{metric}_low"], out[f"random_{metric}_high"] = at
    saved = labels_saved(curve, n_labels, score)
    if saved is not None:
        out["labels_saved"], out["labels_saved_low"] = saved[0], saved[1]
        if math.isfinite(saved[2]):  # else: more than the evaluation set can show
            out["labels_saved_high"] = saved[2]
    return out


def paying_verdict(metrics: dict[str, float], n_labels: int, metric: str) -> str:
    """Say in one line whether active learning is paying, from a cycle's metrics.

    Examples
    --------
    >>> m = {"macro_f1": 0.9, "random_macro_f1": 0.8, "random_macro_f1_low": 0.76,
    ...      "random_macro_f1_high": 0.84, "labels_saved": 60.0, "labels_saved_low": 40.0,
    ...      "labels_saved_high": 90.0, "random_reach": 300.0}
    >>> paying_verdict(m, 100, "macro_f1").split(";")
    ['yes: macro_f1 0.900 at 100 labels, random sampling 0.800 [0.760, 0.840]', \
' ~60 labels saved [40, 90]']
    """
    score = metrics.get(metric)
    if score is None:
        return "not yet: no model scored on the evaluation set"
    reach = metrics.get("random_reach")
    if reach is None:
        return (
            f"not yet: the estimate needs {MIN_EVAL} labelled evaluation items "
            "(random sampling's curve is drawn from them)"
        )
    random = metrics.get(f"random_{metric}")
    here = f"{metric} {score:.3f} at {n_labels} labels"
    if random is None:
        return (
            f"not yet: {here}; the evaluation set stands in for random sampling up to "
            f"{reach:.0f} labels only (label more evaluation items)"
        )
    low, high = metrics[f"random_{metric}_low"], metrics[f"random_{metric}_high"]
    against = f"random sampling {random:.3f} [{low:.3f}, {high:.3f}]"
    saved = _saved(metrics)
    if score < low:
        return (
            f"NO: {here}, below {against}; try a larger exploration (exploration: 0.5, "
            "half of each batch at random), a larger initial_size, or a different model.params.C"
        )
    if score <= high:
        return f"not clear yet: {here}, within {against}{saved}"
    return f"yes: {here}, {against}{saved}"


def _saved(metrics: dict[str, float]) -> str:
    saved = metrics.get("labels_saved")
    if saved is None:
        return "; random sampling would need more labels than the evaluation set can show"
    low, high = metrics["labels_saved_low"], metrics.get("labels_saved_high")
    top = "more" if high is None else f"{high:.0f}"
    return f"; ~{saved:.0f} labels saved [{low:.0f}, {top}]"

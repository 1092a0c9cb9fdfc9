"""Routing: which items the machine may label, which a person reviews, which a person labels.

A class's confidence threshold is chosen from human-labelled evaluation items so that
the machine labels of that class meet a target precision at a stated confidence (a
one-sided Clopper-Pearson lower bound). Candidate thresholds are tested from the most
confident down and the scan stops at the first one that fails (fixed-sequence testing),
so choosing among many thresholds does not spend the confidence more than once. With too
little evidence no threshold passes and nothing of that class is labelled automatically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta

__all__ = [
    "audit_quota",
    "evaluation_thresholds",
    "AuditVerdict",
    "ClassThreshold",
    "Route",
    "Routing",
    "audit_verdict",
    "class_thresholds",
    "min_evidence",
    "precision_bounds",
    "route_items",
]

Route = Literal["auto", "review", "human"]


def precision_bounds(correct: int, total: int, confidence: float) -> tuple[float, float]:
    """Return one-sided Clopper-Pearson bounds on a proportion: (lower, upper).

    Each bound holds on its own side with probability ``confidence``.

    Examples
    --------
    >>> lower, upper = precision_bounds(59, 59, 0.95)
    >>> round(lower, 4), upper
    (0.9505, 1.0)
    """
    if not 0 <= correct <= total:
        raise ValueError(f"correct={correct} must lie in [0, total={total}]")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if total == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    lower = 0.0 if correct == 0 else float(beta.ppf(alpha, correct, total - correct + 1))
    upper = 1.0 if correct == total else float(beta.ppf(confidence, correct + 1, total - correct))
    return lower, upper


def min_evidence(target: float, confidence: float) -> int:
    """Return the fewest evaluation items (all correct) whose lower bound reaches ``target``.

    Examples
    --------
    >>> min_evidence(0.97, 0.95), min_evidence(0.95, 0.95)
    (99, 59)
    """
    if not 0 < target < 1:
        raise ValueError(f"target precision must lie in (0, 1), got {target}")
    # All n correct: the lower bound is (1 - confidence) ** (1 / n).
    return math.ceil(math.log(1.0 - confidence) / math.log(target) - 1e-12)


@dataclass(frozen=True)
class ClassThreshold:
    """The automatic-labelling threshold of one class and the evidence behind it.

    ``threshold`` is None when no candidate passed: nothing of this class is automatic.
    ``n_evidence``/``n_correct``/``lower_bound`` describe the evaluation items the model
    predicts as this class at or above the threshold (or, with no threshold, above the
    loosest candidate tested).
    """

    label: str
    threshold: float | None
    n_evidence: int
    n_correct: int
    lower_bound: float
    reason: str


def class_thresholds(
    predicted: Sequence[str],
    confidence_values: NDArray[np.floating[Any]] | Sequence[float],
    truth: Sequence[str],
    labels: Sequence[str],
    *,
    target: float,
    confidence: float,
) -> dict[str, ClassThreshold]:
    """Choose each class's threshold from labelled evaluation items.

    Parameters
    ----------
    predicted, confidence_values, truth
        For each labelled evaluation item: the model's label, its probability, the
        human label.
    labels
        Every class.
    target, confidence
        The machine labels of a class must reach precision ``target``; the one-sided
        lower confidence bound at level ``confidence`` must clear it.

    Returns
    -------
    dict
        Label -> :class:`ClassThreshold`.

    Examples
    --------
    >>> found = class_thresholds(["a"] * 70, [0.99] * 70, ["a"] * 70, ["a", "b"],
    ...                          target=0.95, confidence=0.95)
    >>> found["a"].threshold, found["b"].threshold
    (0.99, None)
    """
    predicted_arr = np.asarray(predicted, dtype=object)
    scores = np.asarray(confidence_values, dtype=np.float64)
    right = np.asarray(truth, dtype=object) == predicted_arr
    if not predicted_arr.shape == scores.shape == right.shape:
        raise ValueError("predicted, confidence_values and truth must have the same length")
    needed = min_evidence(target, confidence)
    out: dict[str, ClassThreshold] = {}
    for label in labels:
        mine = predicted_arr == label
        order = np.argsort(-scores[mine], kind="stable")
        conf, ok = scores[mine][order], right[mine][order]
        if conf.size < needed:
            out[label] = ClassThreshold(
                label,
                None,
                int(conf.size),
                int(ok.sum()),
                precision_bounds(int(ok.sum()), int(conf.size), confidence)[0],
                f"{conf.size} evaluation item(s) predicted {label!r}; {needed} needed",
            )
            continue
        # Candidates: each distinct confidence value, most confident first; a threshold
        # t keeps every item with confidence >= t, so it ends at the last tie of t.
        ends = np.flatnonzero(np.r_[conf[1:] != conf[:-1], True])
        ends = ends[ends + 1 >= needed]
        counts = ends + 1
        corrects = np.cumsum(ok)[ends]
        lowers = np.where(
            corrects > 0,
            beta.ppf(1.0 - confidence, np.maximum(corrects, 1), counts - corrects + 1),
            0.0,
        )
        failed = np.flatnonzero(lowers < target)
        passed = failed[0] if failed.size else len(ends)
        if passed == 0:
            k = 0
            out[label] = ClassThreshold(
                label,
                None,
                int(counts[k]),
                int(corrects[k]),
                float(lowers[k]),
                f"precision lower bound {lowers[k]:.3f} < target {target} on the "
                f"{counts[k]} most confident",
            )
            continue
        k = passed - 1
        out[label] = ClassThreshold(
            label,
            float(conf[ends[k]]),
            int(counts[k]),
            int(corrects[k]),
            float(lowers[k]),
            f"{corrects[k]}/{counts[k]} correct at confidence >= {conf[ends[k]]:.4f}",
        )
    return out


def evaluation_thresholds(
    proba: NDArray[np.floating[Any]],
    truth: Sequence[str],
    labels: Sequence[str],
    *,
    target: float,
    confidence: float,
) -> dict[str, ClassThreshold]:
    """Choose each class's threshold from the model's probabilities on labelled evaluation items.

    ``proba`` has one row per labelled evaluation item and one column per label (in the
    order of ``labels``); ``truth`` holds the people's labels. This is the one way the
    live loop and the simulation turn evaluation evidence into thresholds.

    Examples
    --------
    >>> proba = np.array([[0.99, 0.01]] * 70)
    >>> found = evaluation_thresholds(proba, ["a"] * 70, ["a", "b"], target=0.95,
    ...                               confidence=0.95)
    >>> found["a"].threshold, found["b"].threshold
    (0.99, None)
    """
    proba = np.asarray(proba, dtype=np.float64).reshape(-1, len(labels))
    classes = np.asarray(labels, dtype=object)
    return class_thresholds(
        classes[proba.argmax(axis=1)].tolist() if len(proba) else [],
        proba.max(axis=1) if len(proba) else np.zeros(0),
        list(truth),
        labels,
        target=target,
        confidence=confidence,
    )


@dataclass(frozen=True)
class Routing:
    """The route of each item, with the model's label and confidence and why.

    ``eligible`` marks the items the machine labels, or would label were automatic
    labelling not suspended (they pass their class threshold and no rule keeps them).
    """

    routes: NDArray[np.str_]
    predicted: NDArray[np.object_]
    confidence: NDArray[np.float64]
    reasons: NDArray[np.object_]
    eligible: NDArray[np.bool_]

    def counts(self) -> dict[str, int]:
        """Return the number of items on each route."""
        return {r: int(np.sum(self.routes == r)) for r in ("auto", "review", "human")}


def route_items(
    proba: NDArray[np.floating[Any]],
    labels: Sequence[str],
    thresholds: dict[str, ClassThreshold],
    *,
    review_min_confidence: float,
    always_human: NDArray[np.bool_] | None = None,
    always_human_classes: Sequence[str] = (),
    auto_allowed: bool = True,
) -> Routing:
    """Give every item a route from its class probabilities.

    ``auto`` when the predicted class has a threshold, the item reaches it, no rule
    keeps it for people and automatic labelling is allowed; ``human`` (no
    pre-annotation) when a rule keeps it for people or the model's confidence is below
    ``review_min_confidence``; ``review`` (the prediction to confirm or correct)
    otherwise.

    Examples
    --------
    >>> t = {"a": ClassThreshold("a", 0.9, 99, 99, 0.97, ""),
    ...      "b": ClassThreshold("b", None, 0, 0, 0.0, "")}
    >>> p = np.array([[0.95, 0.05], [0.7, 0.3], [0.45, 0.55], [0.05, 0.95]])
    >>> route_items(p, ["a", "b"], t, review_min_confidence=0.6).routes.tolist()
    ['auto', 'review', 'human', 'review']
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(labels):
        raise ValueError(f"proba has shape {proba.shape}; expected (n, {len(labels)})")
    n = proba.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=object)
        return Routing(np.zeros(0, dtype="<U6"), empty, np.zeros(0), empty, np.zeros(0, bool))
    best = proba.argmax(axis=1)
    predicted = np.asarray(labels, dtype=object)[best]
    conf = proba.max(axis=1)
    limits = np.array(
        [
            thresholds[label].threshold
            if label in thresholds and thresholds[label].threshold is not None
            else np.inf
            for label in labels
        ],
        dtype=np.float64,
    )
    routes = np.full(n, "review", dtype="<U6")
    reasons = np.full(n, "model's guess to confirm", dtype=object)
    passes = conf >= limits[best]
    if auto_allowed:
        routes[passes] = "auto"
        reasons[passes] = "confidence at or above the class threshold"
    low = conf < review_min_confidence
    routes[low & ~passes] = "human"
    reasons[low & ~passes] = "model unsure"
    if not auto_allowed:
        reasons[passes] = "automatic labelling suspended"
    kept_class = np.isin(predicted.astype(str), list(always_human_classes))
    routes[kept_class] = "human"
    reasons[kept_class] = "class is always labelled by people"
    kept = kept_class
    if always_human is not None:
        mask = np.asarray(always_human, dtype=bool)
        if mask.shape != (n,):
            raise ValueError(f"always_human has shape {mask.shape}; expected ({n},)")
        routes[mask] = "human"
        reasons[mask] = "matches an always-human rule"
        kept = kept | mask
    return Routing(routes, predicted, conf.astype(np.float64), reasons, passes & ~kept)


@dataclass(frozen=True)
class AuditVerdict:
    """What the recent audits say about the precision of the machine labels."""

    n_audits: int
    n_correct: int
    precision: float | None
    lower: float
    upper: float
    suspended: bool
    reason: str


def audit_verdict(
    outcomes: Sequence[bool],
    *,
    target: float,
    confidence: float,
    min_audits: int,
    window: int,
) -> AuditVerdict:
    """Judge from audits (oldest first) whether automatic labelling is allowed.

    Over the latest ``window`` audits, automatic labelling is suspended while the share
    of machine labels the annotators confirmed is below ``target`` (once at least
    ``min_audits`` audits are in), and allowed again once it is back at or above.

    Examples
    --------
    >>> audit_verdict([True] * 18 + [False] * 4, target=0.95, confidence=0.95,
    ...               min_audits=20, window=100).suspended
    True
    """
    recent = list(outcomes)[-window:]
    n, k = len(recent), int(sum(recent))
    lower, upper = precision_bounds(k, n, confidence)
    if n < min_audits:
        return AuditVerdict(
            n, k, k / n if n else None, lower, upper, False, f"{n} of {min_audits} audits in"
        )
    precision = k / n
    if precision < target:
        return AuditVerdict(
            n,
            k,
            precision,
            lower,
            upper,
            True,
            f"audited precision {precision:.3f} ({k}/{n}) < target {target}: "
            "automatic labelling suspended",
        )
    return AuditVerdict(
        n, k, precision, lower, upper, False, f"audited precision {precision:.3f} ({k}/{n})"
    )


def audit_quota(
    n_machine: int, n_audited: int, *, rate: float, suspended: bool, when_suspended: int
) -> int:
    """Return how many machine labels to audit now.

    Audits are kept at ``rate`` of all machine labels so far (``n_machine`` not yet
    audited plus ``n_audited`` audited); while automatic labelling is suspended,
    ``when_suspended`` would-be machine labels are audited at each step, so that
    recovery can be seen. Never negative.

    Examples
    --------
    >>> audit_quota(95, 3, rate=0.05, suspended=False, when_suspended=10)
    2
    >>> audit_quota(0, 40, rate=0.05, suspended=True, when_suspended=10)
    10
    """
    if suspended:
        return max(0, when_suspended)
    return max(0, math.ceil(rate * (n_machine + n_audited)) - n_audited)

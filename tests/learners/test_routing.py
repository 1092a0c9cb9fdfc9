"""Routing decisions: thresholds with a stated guarantee, rules that keep items for people."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.learners import (
    AuditVerdict,
    ClassThreshold,
    audit_verdict,
    class_thresholds,
    min_evidence,
    precision_bounds,
    route_items,
)


@given(st.integers(0, 300), st.integers(0, 300), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_bounds_bracket_the_observed_share(a: int, b: int, confidence: float) -> None:
    correct, total = min(a, b), max(a, b)
    lower, upper = precision_bounds(correct, total, confidence)
    share = correct / total if total else 0.5
    assert 0 <= lower <= share <= upper <= 1


def test_bounds_match_the_closed_form_when_all_are_correct() -> None:
    for n in (1, 10, 59, 99, 500):
        assert precision_bounds(n, n, 0.95)[0] == pytest.approx(0.05 ** (1 / n))


def test_too_little_evidence_labels_nothing_automatically() -> None:
    needed = min_evidence(0.97, 0.95)
    n = needed - 1  # every one of them right, at full confidence: still not enough
    found = class_thresholds(
        ["a"] * n, [1.0] * n, ["a"] * n, ["a", "b"], target=0.97, confidence=0.95
    )
    assert found["a"].threshold is None and "needed" in found["a"].reason
    found = class_thresholds(
        ["a"] * needed, [1.0] * needed, ["a"] * needed, ["a"], target=0.97, confidence=0.95
    )
    assert found["a"].threshold == 1.0


def test_threshold_stops_where_the_errors_start() -> None:
    # 100 sure and right, then 40 less sure and wrong: the threshold keeps the sure ones
    # and no more of the wrong ones than the bound allows.
    conf = np.r_[np.linspace(0.99, 0.9, 100), np.linspace(0.89, 0.6, 40)]
    truth = ["a"] * 100 + ["b"] * 40
    found = class_thresholds(["a"] * 140, conf, truth, ["a", "b"], target=0.95, confidence=0.95)
    t = found["a"].threshold
    assert t is not None and 0.6 < t <= 0.9
    kept = conf >= t
    assert (np.asarray(truth)[kept] == "a").mean() >= 0.95
    assert found["a"].lower_bound >= 0.95 and found["a"].n_evidence == kept.sum()


def test_the_guarantee_holds_on_fresh_items() -> None:
    """The stated guarantee, measured: at 95% confidence, at most ~5% of evaluation draws
    yield a threshold whose true precision on new items falls short of the target."""
    rng = np.random.default_rng(0)
    target, failures, trials = 0.9, 0, 300

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        conf = rng.uniform(0.5, 1.0, n)
        right = rng.random(n) < conf  # calibrated: P(right) = confidence
        return conf, right

    fresh_conf, fresh_right = draw(200_000)
    for _ in range(trials):
        conf, right = draw(400)
        truth = np.where(right, "a", "b")
        t = class_thresholds(
            ["a"] * conf.size, conf, truth.tolist(), ["a", "b"], target=target, confidence=0.95
        )["a"].threshold
        if t is not None and fresh_right[fresh_conf >= t].mean() < target:
            failures += 1
    assert failures / trials <= 0.08


def test_always_human_classes_and_rules_are_never_automatic() -> None:
    thresholds = {
        "spam": ClassThreshold("spam", 0.5, 100, 100, 0.97, ""),
        "medical": ClassThreshold("medical", 0.5, 100, 100, 0.97, ""),
    }
    proba = np.array([[0.99, 0.01], [0.01, 0.99], [0.98, 0.02], [0.97, 0.03]])
    rule = np.array([False, False, True, False])
    routed = route_items(
        proba,
        ["spam", "medical"],
        thresholds,
        review_min_confidence=0.5,
        always_human=rule,
        always_human_classes=["medical"],
    )
    assert routed.routes.tolist() == ["auto", "human", "human", "auto"]
    assert routed.reasons[1] == "class is always labelled by people"
    assert routed.reasons[2] == "matches an always-human rule"


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_a_rule_always_wins(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(3), size=n)
    rule = rng.random(n) < 0.3
    thresholds = {c: ClassThreshold(c, 0.0, 100, 100, 0.99, "") for c in "abc"}
    routed = route_items(
        proba, list("abc"), thresholds, review_min_confidence=0.0, always_human=rule
    )
    assert (routed.routes[rule] == "human").all()
    assert (routed.routes[~rule] == "auto").all()


def test_suspended_means_no_machine_label() -> None:
    thresholds = {"a": ClassThreshold("a", 0.5, 100, 100, 0.97, "")}
    proba = np.array([[0.99, 0.01], [0.3, 0.7]])
    routed = route_items(
        proba,
        ["a", "b"],
        {**thresholds, "b": ClassThreshold("b", None, 0, 0, 0.0, "")},
        review_min_confidence=0.5,
        auto_allowed=False,
    )
    assert routed.counts()["auto"] == 0
    assert routed.reasons[0] == "automatic labelling suspended"


def test_audits_suspend_below_target_and_recover() -> None:
    def judge(outcomes: list[bool]) -> AuditVerdict:
        return audit_verdict(outcomes, target=0.9, confidence=0.95, min_audits=10, window=20)

    assert not judge([False] * 9).suspended  # too few audits to judge
    failing = [True] * 10 + [False] * 5
    verdict = judge(failing)
    assert verdict.suspended and verdict.precision == pytest.approx(10 / 15)
    assert "suspended" in verdict.reason
    recovered = failing + [True] * 20  # the window now holds only confirmations
    assert not judge(recovered).suspended

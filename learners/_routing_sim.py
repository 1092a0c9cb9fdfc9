"""Simulated human-in-the-loop labelling: how much of a pool the machine labels, how well.

The gold labels stand in for the annotators. The evaluation set is labelled by people
(it is the evidence for the thresholds), the strategy's batches are labelled by people,
a share of the machine labels is audited by people, and the rest of the pool is routed
after every step. The machine labels are then checked against the gold labels they
never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from labelloop.learners._evaluation import aligned_proba
from labelloop.learners._learner import PoolLearner
from labelloop.learners._modal_compat import apply_modal_shim
from labelloop.learners._routing import (
    audit_quota,
    audit_verdict,
    evaluation_thresholds,
    route_items,
)
from labelloop.learners._simulation import EvaluationShare
from labelloop.learners._types import Matrix

__all__ = ["RoutingPolicy", "RoutingRun", "RoutingStep", "simulate_routing"]


@dataclass(frozen=True)
class RoutingPolicy:
    """The routing settings a simulation applies (the config's ``routing`` section)."""

    target: float = 0.95
    confidence: float = 0.95
    review_min_confidence: float = 0.5
    always_human_classes: tuple[str, ...] = ()
    audit_rate: float = 0.05
    min_audits: int = 20
    audit_window: int = 100
    audits_when_suspended: int = 10


@dataclass(frozen=True)
class RoutingStep:
    """The state of the pool after one step: who labelled what, and how well."""

    step: int
    human_labels: int  # evaluation + strategy + audits
    auto: int
    review: int
    human: int
    auto_correct: int
    suspended: bool


@dataclass
class RoutingRun:
    """One simulated run with routing, and its final machine labels against gold."""

    seed: int
    n_items: int
    n_eval: int
    steps: list[RoutingStep] = field(default_factory=list)
    n_strategy_labels: int = 0
    n_audits: int = 0
    n_audits_wrong: int = 0
    per_class: dict[str, tuple[int, int]] = field(default_factory=dict)  # label: (auto, correct)
    review_correct: int = 0
    thresholds: dict[str, float | None] = field(default_factory=dict)

    @property
    def final(self) -> RoutingStep:
        """The last step."""
        return self.steps[-1]


def simulate_routing(
    estimator: BaseEstimator,
    X: Matrix,
    ids: Sequence[str] | NDArray[np.str_],
    labels: NDArray[Any],
    *,
    policy: RoutingPolicy,
    strategy: str,
    seed: int,
    batch_size: int,
    budget: int,
    eval_positions: NDArray[np.intp],
    initial_size: int | None = None,
    cold_start: str = "kmeans",
    exploration: float | str = 0.0,
    always_human: NDArray[np.bool_] | None = None,
    on_step: Callable[[RoutingStep], None] | None = None,
) -> RoutingRun:
    """Run the loop with routing; people label ``budget`` strategy items plus audits.

    After each step the thresholds are chosen on the evaluation set, the unlabelled
    items routed, the strategy's next batch drawn from items the machine does not label
    (a share ``exploration`` of it at random, see :class:`PoolLearner`), and new machine
    labels audited at ``policy.audit_rate`` (the audit verdict gates
    automatic labelling at the next step).

    Returns
    -------
    RoutingRun
    """
    apply_modal_shim()
    ids = np.asarray(ids, dtype=str)
    gold = np.asarray(labels, dtype=object).astype(str)
    classes = sorted(set(gold.tolist()))
    stream = np.random.SeedSequence([seed, 2])
    learner_rng, audit_rng = (np.random.default_rng(s) for s in stream.spawn(2))
    learner = PoolLearner(
        estimator,
        X,
        ids,
        strategy=strategy,
        cold_start=cold_start,
        excluded_ids=ids[eval_positions],
        random_state=learner_rng,
    )
    # People label the whole evaluation set here, so "auto" reads all of it.
    share = EvaluationShare(exploration, X, gold, eval_positions, seed)
    learner.exploration = share.first
    is_eval = np.zeros(len(ids), dtype=bool)
    is_eval[eval_positions] = True
    keep_human = (
        np.zeros(len(ids), dtype=bool) if always_human is None else np.asarray(always_human)
    )
    budget = min(budget, len(ids) - int(is_eval.sum()))
    run = RoutingRun(seed=seed, n_items=len(ids), n_eval=int(is_eval.sum()))
    audits: list[bool] = []
    audited = np.zeros(len(ids), dtype=bool)
    suspended = False
    size = initial_size or batch_size
    step = 0
    while True:
        labelled = np.zeros(len(ids), dtype=bool)
        labelled[learner.positions(learner.labelled_ids)] = True
        model = learner.model_
        open_rows = np.flatnonzero(~labelled & ~is_eval)
        auto = np.zeros(len(ids), dtype=bool)
        routes: NDArray[Any] = np.full(open_rows.size, "review", dtype="<U6")
        predicted: NDArray[Any] = np.zeros(open_rows.size, dtype=object)
        if model is not None:
            learner.exploration = share.next(model, eval_positions.size)
        if model is not None and open_rows.size:
            thresholds = evaluation_thresholds(
                aligned_proba(model, X[eval_positions], classes),
                gold[eval_positions].tolist(),
                classes,
                target=policy.target,
                confidence=policy.confidence,
            )
            run.thresholds = {c: t.threshold for c, t in thresholds.items()}
            routing = route_items(
                aligned_proba(model, X[open_rows], classes),
                classes,
                thresholds,
                review_min_confidence=policy.review_min_confidence,
                always_human=keep_human[open_rows],
                always_human_classes=policy.always_human_classes,
                auto_allowed=not suspended,
            )
            routes, predicted = routing.routes, routing.predicted
            auto[open_rows[routes == "auto"]] = True
            # Audits: keep audited machine labels at the audit rate of all machine labels;
            # while suspended, a few would-be machine labels are audited every step.
            eligible = routing.eligible
            wanted = audit_quota(
                int(eligible.sum()),
                int(audited.sum()),
                rate=policy.audit_rate,
                suspended=suspended,
                when_suspended=policy.audits_when_suspended,
            )
            pick = np.flatnonzero(eligible)
            pick = audit_rng.permutation(pick)[: min(wanted, pick.size)]
            if pick.size:
                rows = open_rows[pick]
                outcomes = gold[rows] == predicted[pick].astype(str)
                audits.extend(outcomes.tolist())
                run.n_audits += int(pick.size)
                run.n_audits_wrong += int((~outcomes).sum())
                audited[rows] = True
                auto[rows] = False
                routes[pick] = "audit"
                learner.teach(ids[rows].tolist(), gold[rows].tolist(), refit=False)
            suspended = audit_verdict(
                audits,
                target=policy.target,
                confidence=policy.confidence,
                min_audits=policy.min_audits,
                window=policy.audit_window,
            ).suspended
        auto_rows = np.flatnonzero(auto)
        record = RoutingStep(
            step=step,
            human_labels=learner.n_labelled + int(is_eval.sum()),
            auto=int(auto.sum()),
            review=int(np.sum(routes == "review")),
            human=int(np.sum(routes == "human")),
            auto_correct=int(np.sum(gold[auto_rows] == _machine(predicted, open_rows, auto_rows))),
            suspended=suspended,
        )
        run.steps.append(record)
        if on_step is not None:
            on_step(record)
        if run.n_strategy_labels >= budget or learner.n_unlabelled - int(auto.sum()) <= 0:
            break
        learner.hold_out(ids[auto_rows])
        size = min(size, budget - run.n_strategy_labels, learner.n_unlabelled - int(auto.sum()))
        query = learner.query(size)
        learner.teach(query.ids, gold[learner.positions(query.ids)].tolist())
        run.n_strategy_labels += len(query.ids)
        size = batch_size
        step += 1
    # The final machine labels, against gold, per class; and how often a review is a confirm.
    if learner.model_ is not None and open_rows.size:
        machine = _machine(predicted, open_rows, auto_rows)
        for label in classes:
            mine = machine == label
            run.per_class[label] = (int(mine.sum()), int(np.sum(gold[auto_rows][mine] == label)))
        review_rows = open_rows[routes == "review"]
        run.review_correct = int(np.sum(gold[review_rows] == predicted[routes == "review"]))
    return run


def _machine(
    predicted: NDArray[np.object_], open_rows: NDArray[np.intp], auto_rows: NDArray[np.intp]
) -> NDArray[np.str_]:
    """Return the machine labels of ``auto_rows`` (pool positions) from the routed rows."""
    where = np.searchsorted(open_rows, auto_rows)
    return np.asarray(predicted, dtype=object)[where].astype(str)

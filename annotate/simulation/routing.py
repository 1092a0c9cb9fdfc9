"""`labelloop simulate --routing`: how much of the pool the machine labels, and how well."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from labelloop.annotate.config.rules import human_rule_mask
from labelloop.annotate.config.schema import ProjectConfig, build_estimator
from labelloop.annotate.loop.features import project_features
from labelloop.annotate.loop.stopping import evaluation_positions
from labelloop.datasets import Pool
from labelloop.learners import (
    RoutingPolicy,
    RoutingRun,
    RoutingStep,
    simulate_routing,
)

__all__ = ["routing_policy", "routing_rows", "run_routing"]


def routing_policy(config: ProjectConfig) -> RoutingPolicy:
    """Translate the config's ``routing`` section into the simulation's policy."""
    routing = config.routing
    return RoutingPolicy(
        target=routing.target_precision,
        confidence=routing.confidence,
        review_min_confidence=routing.review_min_confidence,
        always_human_classes=routing.always_human_classes,
        audit_rate=routing.audit.rate,
        min_audits=routing.audit.min_audits,
        audit_window=routing.audit.window,
        audits_when_suspended=routing.audit.per_cycle_when_suspended,
    )


def run_routing(
    config: ProjectConfig,
    pool: Pool,
    strategies: Sequence[str],
    seeds: Sequence[int],
    *,
    on_step: Callable[[RoutingStep], None] | None = None,
    on_run: Callable[[str, int], None] | None = None,
) -> dict[str, list[RoutingRun]]:
    """Simulate routing for every strategy under every seed; gold labels play the people."""
    X = project_features(config, pool)
    estimator = build_estimator(config.model)
    keep = human_rule_mask(pool.frame, config.routing.always_human)
    policy = routing_policy(config)
    out: dict[str, list[RoutingRun]] = {}
    for name in strategies:
        for seed in seeds:
            if on_run is not None:
                on_run(name, seed)
            out.setdefault(name, []).append(
                simulate_routing(
                    estimator,
                    X,
                    pool.ids,
                    pool.labels,
                    policy=policy,
                    strategy=name,
                    seed=seed,
                    batch_size=config.batch_size,
                    budget=config.budget,
                    eval_positions=np.sort(evaluation_positions(config, len(pool), seed)),
                    initial_size=config.initial_size,
                    cold_start=config.cold_start,
                    exploration=config.exploration,
                    always_human=keep,
                    on_step=on_step,
                )
            )
    return out


def routing_rows(runs: dict[str, list[RoutingRun]], target: float) -> list[dict[str, Any]]:
    """One row per strategy and seed: human labels, machine labels, measured precision."""
    rows = []
    for name, mine in runs.items():
        for run in mine:
            final = run.final
            machine = final.auto
            precision = final.auto_correct / machine if machine else None
            per_class = {label: correct / n for label, (n, correct) in run.per_class.items() if n}
            human_total = run.n_items - machine
            rows.append(
                {
                    "strategy": name,
                    "seed": run.seed,
                    "n_items": run.n_items,
                    "evaluation_labels": run.n_eval,
                    "strategy_labels": run.n_strategy_labels,
                    "audit_labels": run.n_audits,
                    "audits_rejected": run.n_audits_wrong,
                    "left_for_people": final.review + final.human,
                    "machine_labels": machine,
                    "machine_share": machine / run.n_items,
                    "machine_precision": precision,
                    "worst_class_precision": min(per_class.values()) if per_class else None,
                    "per_class_precision": per_class,
                    "meets_target": all(p >= target for p in per_class.values()),
                    "human_labels": human_total,
                    "human_labels_saved": machine / run.n_items,
                    "review_guess_right": run.review_correct / final.review
                    if final.review
                    else None,
                    "thresholds": run.thresholds,
                }
            )
    return rows

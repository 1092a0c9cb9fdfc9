"""`labelloop simulate --routing`: how much of the pool the machine labels, and how well."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from annotate._config import ProjectConfig, build_estimator
from annotate._project import project_features
from annotate._routing import human_rule_mask
from datasets import Pool
from learners import (
    RoutingPolicy,
    RoutingRun,
    RoutingStep,
    draw_evaluation_set,
    min_evidence,
    simulate_routing,
)

__all__ = ["routing_policy", "routing_rows", "routing_table", "run_routing", "write_routing"]


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
                    eval_positions=draw_evaluation_set(len(pool), config.evaluation.size, seed),
                    initial_size=config.initial_size,
                    cold_start=config.cold_start,
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


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def routing_table(config: ProjectConfig, rows: list[dict[str, Any]]) -> Table:
    """Build the routing results table: per strategy and seed, then the mean over seeds."""
    routing = config.routing
    table = Table(
        title=(
            f"{config.name}: machine labels at target precision {routing.target_precision} "
            f"({routing.confidence:.0%} lower bound; a class needs "
            f"{min_evidence(routing.target_precision, routing.confidence)} evaluation labels), "
            f"audit rate {routing.audit.rate:.0%}, strategy budget {config.budget}"
        ),
        title_justify="left",
    )
    columns = (
        "strategy",
        "seed",
        "items",
        "eval + strategy + audit labels",
        "left for people",
        "machine labels",
        "machine precision (gold)",
        "worst class",
        "meets target",
        "human labels saved",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    by_strategy: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_strategy.setdefault(row["strategy"], []).append(row)
    for name, mine in by_strategy.items():
        for k, row in enumerate(mine):
            table.add_row(
                row["strategy"],
                str(row["seed"]),
                str(row["n_items"]),
                f"{row['evaluation_labels']} + {row['strategy_labels']} + {row['audit_labels']}",
                str(row["left_for_people"]),
                f"{row['machine_labels']} ({row['machine_share']:.1%})",
                _fmt(row["machine_precision"]),
                _fmt(row["worst_class_precision"]),
                ("yes" if row["meets_target"] else "NO") if row["machine_labels"] else "—",
                f"{row['human_labels_saved']:.1%}",
                end_section=len(mine) == 1 and k == 0,
            )
        if len(mine) < 2:
            continue
        share = [r["machine_share"] for r in mine]
        precision = [r["machine_precision"] for r in mine if r["machine_precision"] is not None]
        worst = [r["worst_class_precision"] for r in mine if r["worst_class_precision"] is not None]
        table.add_row(
            f"{name} (mean)",
            f"{len(mine)} seeds",
            "",
            "",
            "",
            f"{np.mean(share):.1%} ± {np.std(share):.1%}",
            _fmt(float(np.mean(precision))) if precision else "—",
            _fmt(min(worst)) if worst else "—",
            f"{sum(r['meets_target'] for r in mine if r['machine_labels'])}/"
            f"{sum(1 for r in mine if r['machine_labels'])}",
            f"{np.mean(share):.1%}",
            end_section=True,
        )
    return table


def write_routing(
    runs: dict[str, list[RoutingRun]], rows: list[dict[str, Any]], out_dir: Path, target: float
) -> dict[str, Path]:
    """Write ``routing.json`` (rows and every step) and ``routing.png`` into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "routing.json", "plot": out_dir / "routing.png"}
    steps = {
        f"{name}/{run.seed}": [asdict(s) for s in run.steps]
        for name, mine in runs.items()
        for run in mine
    }
    payload = {"target": target, "rows": rows, "steps": steps}
    paths["json"].write_text(json.dumps(payload, indent=1) + "\n")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for name, mine in runs.items():
        for k, run in enumerate(mine):
            x = [s.human_labels for s in run.steps]
            share = [s.auto / run.n_items for s in run.steps]
            precision = [s.auto_correct / s.auto if s.auto else np.nan for s in run.steps]
            label = name if k == 0 else None
            color = f"C{list(runs).index(name)}"
            left.plot(x, share, color=color, alpha=0.8, label=label)
            right.plot(x, precision, color=color, alpha=0.8, label=label)
    left.set_xlabel("human labels (evaluation + strategy + audits)")
    left.set_ylabel("share of the pool labelled by the machine")
    left.set_title("Machine-labelled share")
    right.axhline(target, color="grey", ls="--", label="target")
    right.set_xlabel("human labels (evaluation + strategy + audits)")
    right.set_ylabel("precision of the machine labels (gold)")
    right.set_title("Measured precision of the machine labels")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
    fig.savefig(paths["plot"], dpi=100)
    plt.close(fig)
    return paths

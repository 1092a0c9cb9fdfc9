"""`labelloop simulate`: strategies x seeds in memory, then curves, summary and plot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from labelloop.annotate.config.schema import ProjectConfig, build_estimator
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.stopping import (
    evaluation_positions,
    stop_positions,
    stopping_criterion,
)
from labelloop.datasets import LabelError, Pool
from labelloop.learners import (
    CurvePoint,
    SimulationRun,
    area_under_curve,
    full_pool_metrics,
    labels_to_reach,
    paired_interval,
    simulate,
    spread,
)

__all__ = [
    "SimulationProgress",
    "SimulationReport",
    "expected_steps",
    "load_simulation_pool",
    "run_simulations",
    "summarize_runs",
]


class SimulationProgress(Protocol):
    """Receives progress: the total number of fits, each run's start, each step."""

    def start(self, total_steps: int) -> None:
        """Announce how many model fits the whole simulation makes."""
        ...

    def run(self, strategy: str, seed: int) -> None:
        """Announce the start of one strategy under one seed."""
        ...

    def step(self, point: CurvePoint) -> None:
        """Report one finished step."""
        ...


@dataclass
class SimulationReport:
    """Everything one ``simulate`` call produced."""

    config_name: str
    n_items: int
    n_eval: int
    batch_size: int
    budget: int
    runs: list[SimulationRun]
    full_pool_accuracy: dict[int, float]
    summary: dict[str, Any]
    full_pool_macro_f1: dict[int, float] = field(default_factory=dict)
    exploration: float | str = 0.0


def expected_steps(n_pool: int, budget: int, initial: int, batch: int) -> int:
    """Return the number of model fits one run makes (for progress bars)."""
    total = min(budget, n_pool)
    return 1 + max(0, int(np.ceil((total - min(initial, total)) / batch)))


def run_simulations(
    config: ProjectConfig,
    strategies: Sequence[str],
    seeds: Sequence[int],
    *,
    progress: SimulationProgress | None = None,
    cache_dir: Path | None = None,
    pool: Pool | None = None,
) -> SimulationReport:
    """Simulate every strategy under every seed with the config's data and model.

    Each seed draws its own evaluation set; every strategy of a seed shares it, the
    same first batch (the cold start) and the same full-pool ceiling.
    """
    if not strategies:
        raise ValueError("no strategy to simulate")
    pool = pool if pool is not None else load_simulation_pool(config)
    X = project_features(config, pool, cache_dir)
    labels = pool.labels
    estimator = build_estimator(config.model)
    runs: list[SimulationRun] = []
    ceilings: dict[int, float] = {}
    ceilings_f1: dict[int, float] = {}
    n_eval = evaluation_positions(config, len(pool), seeds[0]).size
    initial = config.initial_size or config.batch_size
    per_run = expected_steps(len(pool) - n_eval, config.budget, initial, config.batch_size)
    if progress is not None:
        progress.start(per_run * len(strategies) * len(seeds))
    for seed in seeds:
        eval_positions = np.sort(evaluation_positions(config, len(pool), seed))
        ceiling = full_pool_metrics(estimator, X, labels, eval_positions, pool.classes)
        ceilings[seed] = ceiling.accuracy
        ceilings_f1[seed] = ceiling.macro_f1
        for name in strategies:
            if progress is not None:
                progress.run(name, seed)

            runs.append(
                simulate(
                    estimator,
                    X,
                    pool.ids,
                    labels,
                    strategy=name,
                    seed=seed,
                    batch_size=config.batch_size,
                    budget=config.budget,
                    eval_positions=eval_positions,
                    initial_size=config.initial_size,
                    cold_start=config.cold_start,
                    exploration=config.exploration,
                    evaluation_per_batch=config.evaluation.per_batch,
                    stopping=stopping_criterion(config),
                    stop_positions=stop_positions(config, len(pool), seed),
                    on_step=progress.step if progress is not None else None,
                )
            )
    summary = summarize_runs(runs, ceilings, list(strategies))
    return SimulationReport(
        config_name=config.name,
        n_items=len(pool),
        n_eval=n_eval,
        batch_size=config.batch_size,
        budget=min(config.budget, len(pool) - n_eval),
        runs=runs,
        full_pool_accuracy=ceilings,
        summary=summary,
        full_pool_macro_f1=ceilings_f1,
        exploration=config.exploration,
    )


def load_simulation_pool(config: ProjectConfig) -> Pool:
    """Load the config's pool and check that every item has a gold label.

    Raises
    ------
    LabelError
        Naming the file and the label column.
    """
    pool = load_project_pool(config)
    if not pool.has_labels:
        column = pool.label_column or "(none)"
        raise LabelError(
            f"{pool.source}: simulation needs a gold label for every item; label column {column!r}"
            " is missing or has empty values"
        )
    return pool


def summarize_runs(
    runs: Sequence[SimulationRun], ceilings: dict[int, float], strategies: Sequence[str]
) -> dict[str, Any]:
    """Per strategy: AULC, labels to 95 % / 99 % of full-pool accuracy, with seed spread."""
    full = spread(list(ceilings.values()))
    out: dict[str, Any] = {}
    for name in strategies:
        mine = [r for r in runs if r.strategy == name]
        aulc, f1_aulc, to95, to99, final, stops, stop_acc = [], [], [], [], [], [], []
        for run in mine:
            x = [p.n_labels for p in run.points]
            acc = [p.accuracy for p in run.points]
            ceiling = ceilings[run.seed]
            aulc.append(area_under_curve(x, acc))
            f1_aulc.append(area_under_curve(x, [p.macro_f1 for p in run.points]))
            to95.append(labels_to_reach(x, acc, 0.95 * ceiling))
            to99.append(labels_to_reach(x, acc, 0.99 * ceiling))
            final.append(acc[-1] if acc else None)
            stops.append(run.stopped_at)
            at_stop = [p.accuracy for p in run.points if p.n_labels == run.stopped_at]
            stop_acc.append(at_stop[0] if at_stop else None)
        out[name] = {
            "aulc": spread(aulc).as_dict(),
            "aulc_macro_f1": spread(f1_aulc).as_dict(),
            "labels_to_95": spread(to95).as_dict(),
            "labels_to_99": spread(to99).as_dict(),
            "final_accuracy": spread(final).as_dict(),
            "full_pool_accuracy": full.as_dict(),
            "stopped_at": spread(stops).as_dict(),
            "accuracy_at_stop": spread(stop_acc).as_dict(),
            "seeds": [r.seed for r in mine],
            "explored": _explored(mine),
        }
    by_run = {(r.strategy, r.seed): r for r in runs}
    for name in strategies:
        if "random" in strategies and name != "random":
            out[name]["aulc_vs_random"] = _paired_gap(by_run, name, out[name]["seeds"])
    return out


def _explored(runs: Sequence[SimulationRun]) -> float:
    """Share of the labels after each run's first model that were drawn at random."""
    picked = sum(r.points[-1].n_labels - r.points[0].n_labels for r in runs if r.points)
    drawn = sum(p.explored for r in runs for p in r.points[1:])
    return drawn / picked if picked else 0.0


def _paired_gap(
    by_run: dict[tuple[str, int], SimulationRun], name: str, seeds: Sequence[int]
) -> dict[str, float | int | None]:
    """AULC minus random's on the same seed (same evaluation set), with a 95% t interval."""
    gaps = []
    for seed in seeds:
        other = by_run.get(("random", seed))
        if other is None:
            continue
        mine = by_run[(name, seed)]
        gaps.append(
            area_under_curve([p.n_labels for p in mine.points], [p.accuracy for p in mine.points])
            - area_under_curve(
                [p.n_labels for p in other.points], [p.accuracy for p in other.points]
            )
        )
    if not gaps:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean, low, high = paired_interval(gaps)
    return {"mean": mean, "low": low, "high": high, "n": len(gaps)}

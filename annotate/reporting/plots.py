"""Learning-curve plots a person would rather look at than read."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from labelloop.annotate.simulation.curves import SimulationReport
    from labelloop.learners import RoutingRun

__all__ = ["plot_curves", "plot_routing"]


def plot_curves(report: SimulationReport, path: Path) -> Path:
    """Accuracy and macro-F1 against labels: mean over seeds, a band of +/- one std.

    Dashed lines mark 95 % and 99 % of the full-pool accuracy; dots mark where the
    stopping rule fired.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    ceiling = float(np.mean(list(report.full_pool_accuracy.values())))
    by_strategy: dict[str, list[tuple[list[int], list[float], list[float]]]] = defaultdict(list)
    stops: dict[str, list[int]] = defaultdict(list)
    for run in report.runs:
        x = [p.n_labels for p in run.points]
        by_strategy[run.strategy].append(
            (x, [p.accuracy for p in run.points], [p.macro_f1 for p in run.points])
        )
        if run.stopped_at is not None:
            stops[run.strategy].append(run.stopped_at)
    colors = plt.get_cmap("tab10")
    for k, (name, runs) in enumerate(by_strategy.items()):
        grid = sorted({n for x, _, _ in runs for n in x})
        for axis, metric in zip(axes, (1, 2), strict=True):
            curves = np.array(
                [np.interp(grid, x, vals) for x, *rest in runs for vals in [rest[metric - 1]]]
            )
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            style = "--" if name == "random" else "-"
            axis.plot(grid, mean, style, color=colors(k % 10), lw=2, label=name)
            axis.fill_between(grid, mean - std, mean + std, color=colors(k % 10), alpha=0.15)
            if metric == 1 and stops[name]:
                at = float(np.median(stops[name]))
                axis.plot([at], [float(np.interp(at, grid, mean))], "o", color=colors(k % 10), ms=8)
    for axis, title in zip(axes, ("Accuracy", "Macro-F1"), strict=True):
        axis.axhline(ceiling, color="black", lw=1, label=f"full pool ({ceiling:.3f})")
        axis.axhline(0.99 * ceiling, color="grey", lw=1, ls=":", label="99% of full pool")
        axis.axhline(0.95 * ceiling, color="grey", lw=1, ls="-.", label="95% of full pool")
        axis.set_xlabel("labels")
        axis.set_ylabel(title.lower())
        axis.set_title(title)
        axis.grid(alpha=0.3)
        low = min(0.95 * ceiling - 0.25, axis.get_ylim()[0])
        axis.set_ylim(max(0.0, low), 1.0)
    axes[0].legend(loc="lower right", fontsize=9)
    n_seeds = len(report.full_pool_accuracy)
    fig.suptitle(
        f"{report.config_name}: {report.n_items} items, {report.n_eval} held out, "
        f"batch {report.batch_size}, {n_seeds} seed(s); dots = stopping rule fired",
        fontsize=11,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_routing(runs: dict[str, list[RoutingRun]], target: float, path: Path) -> Path:
    """Machine-labelled share and the machine labels' precision against human labels."""
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
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

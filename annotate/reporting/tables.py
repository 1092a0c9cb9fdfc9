"""Tables printed on the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

from labelloop.annotate.config.schema import ProjectConfig
from labelloop.learners import min_evidence

if TYPE_CHECKING:
    from labelloop.annotate.simulation.curves import SimulationReport

__all__ = ["routing_simulation_table", "summary_table"]


def _mean_std(cell: dict[str, Any], digits: int = 3, as_int: bool = False) -> str:
    if cell["mean"] is None:
        if cell["n"] == 0:
            return "never"
        return f"{cell['n']}/{cell['of']} seeds"
    if as_int:
        return f"{cell['mean']:.0f} ± {cell['std']:.0f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def summary_table(report: SimulationReport) -> Table:
    """Build the strategies-side-by-side table: AULC, labels to 95 % and 99 % of full pool."""
    summary = report.summary
    first = next(iter(summary.values()))
    full = first["full_pool_accuracy"]
    table = Table(
        title=(
            f"{report.config_name}: {report.n_items} items ({report.n_eval} held out), batch "
            f"{report.batch_size}, budget {report.budget}, {full['of']} seed(s); "
            f"full-pool accuracy {full['mean']:.3f}"
        ),
        title_justify="left",
    )
    for column, justify in (
        ("strategy", "left"),
        ("AULC", "right"),
        ("final acc", "right"),
        ("labels to 95%", "right"),
        ("labels to 99%", "right"),
        ("99% vs random", "right"),
        ("AULC vs random (95%)", "right"),
        ("stopped at", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    random_99 = summary.get("random", {}).get("labels_to_99", {}).get("mean")
    for name, row in summary.items():
        to99 = row["labels_to_99"]["mean"]
        random_row = summary.get("random")
        if name == "random" or random_row is None or to99 is None:
            ratio = "—"
        elif random_row["labels_to_99"]["n"] == 0:
            ratio = "random never"
        elif random_99 is None:
            ratio = "—"
        else:
            ratio = f"{to99 / random_99:.2f}x"
        stop = row["stopped_at"]
        stop_text = "never" if stop["n"] == 0 else _mean_std(stop, as_int=True)
        if stop["mean"] is not None and row["accuracy_at_stop"]["mean"] is not None:
            stop_text += f" (acc {row['accuracy_at_stop']['mean']:.3f})"
        table.add_row(
            name,
            _mean_std(row["aulc"]),
            _mean_std(row["final_accuracy"]),
            _mean_std(row["labels_to_95"], as_int=True),
            _mean_std(row["labels_to_99"], as_int=True),
            ratio,
            _gap(row.get("aulc_vs_random")),
            stop_text,
        )
    return table


def _gap(cell: dict[str, Any] | None) -> str:
    """AULC minus random's on the same seeds, with its interval: better, worse or unclear."""
    if cell is None or cell["mean"] is None:
        return "—"
    if cell["low"] is None:
        return f"{cell['mean']:+.3f} (1 seed)"
    verdict = "better" if cell["low"] > 0 else "worse" if cell["high"] < 0 else "unclear"
    return f"{cell['mean']:+.3f} [{cell['low']:+.3f}, {cell['high']:+.3f}] {verdict}"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def routing_simulation_table(config: ProjectConfig, rows: list[dict[str, Any]]) -> Table:
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

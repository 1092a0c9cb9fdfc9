"""Tables printed on the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from annotate._simulate import SimulationReport

__all__ = ["summary_table"]


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
            stop_text,
        )
    return table

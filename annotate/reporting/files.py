"""Simulation output folders: the JSON a notebook reads and the PNG a person looks at."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labelloop.annotate.reporting.plots import plot_curves, plot_routing
from labelloop.annotate.simulation.curves import SimulationReport
from labelloop.learners import RoutingRun

__all__ = ["write_routing", "write_simulation"]


def write_simulation(report: SimulationReport, out_dir: Path) -> dict[str, Path]:
    """Write ``curves.json``, ``summary.json`` and ``curves.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = [
        {
            k: v
            for k, v in asdict(p).items()
            if k
            in (
                "strategy",
                "seed",
                "n_labels",
                "accuracy",
                "macro_f1",
                "log_loss",
                "step",
                "explored",
            )
        }
        for run in report.runs
        for p in run.points
    ]
    paths = {
        "curves": out_dir / "curves.json",
        "summary": out_dir / "summary.json",
        "plot": out_dir / "curves.png",
    }
    paths["curves"].write_text(json.dumps(curves, indent=1) + "\n")
    meta = {
        "config": report.config_name,
        "n_items": report.n_items,
        "n_eval": report.n_eval,
        "batch_size": report.batch_size,
        "budget": report.budget,
        "exploration": report.exploration,
        "seeds": sorted(report.full_pool_accuracy),
        "full_pool_accuracy_by_seed": {str(k): v for k, v in report.full_pool_accuracy.items()},
        "full_pool_macro_f1_by_seed": {str(k): v for k, v in report.full_pool_macro_f1.items()},
    }
    paths["summary"].write_text(
        json.dumps({"meta": meta, "strategies": report.summary}, indent=2) + "\n"
    )
    plot_curves(report, paths["plot"])
    return paths


def write_routing(
    runs: dict[str, list[RoutingRun]],
    rows: list[dict[str, Any]],
    out_dir: Path,
    target: float,
    *,
    exploration: float | str = 0.0,
) -> dict[str, Path]:
    """Write ``routing.json`` (rows and every step) and ``routing.png`` into ``out_dir``.

    ``exploration`` is the setting the strategies' batches were picked under.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "routing.json", "plot": out_dir / "routing.png"}
    steps = {
        f"{name}/{run.seed}": [asdict(s) for s in run.steps]
        for name, mine in runs.items()
        for run in mine
    }
    payload = {"target": target, "exploration": exploration, "rows": rows, "steps": steps}
    paths["json"].write_text(json.dumps(payload, indent=1) + "\n")
    plot_routing(runs, target, paths["plot"])
    return paths

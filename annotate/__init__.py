"""labelloop annotate: configs, Label Studio, the state store, the loop, MLflow, the CLI.

The names below are the public API that notebooks and scripts use. They are loaded on
first use, so that importing the package (and running ``labelloop --help``) stays fast.

Subpackages, lower layers first (a module imports only from its own layer or below):
``errors``, ``config``, ``state``, ``labelstudio``, ``loop``, ``simulation``,
``reporting``, ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labelloop.datasets._lazy import lazy_names

if TYPE_CHECKING:
    from labelloop.annotate.config.schema import ProjectConfig, load_config
    from labelloop.annotate.loop.tracking import tracking_uri
    from labelloop.annotate.reporting.plots import plot_curves
    from labelloop.annotate.simulation.curves import SimulationReport, run_simulations

__all__ = [
    "ProjectConfig",
    "SimulationReport",
    "load_config",
    "plot_curves",
    "run_simulations",
    "tracking_uri",
]

_HOMES = {
    "ProjectConfig": "labelloop.annotate.config.schema",
    "load_config": "labelloop.annotate.config.schema",
    "tracking_uri": "labelloop.annotate.loop.tracking",
    "plot_curves": "labelloop.annotate.reporting.plots",
    "SimulationReport": "labelloop.annotate.simulation.curves",
    "run_simulations": "labelloop.annotate.simulation.curves",
}

__getattr__, __dir__ = lazy_names(__name__, _HOMES)

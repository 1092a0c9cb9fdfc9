"""labelloop annotate: config, the command line, Label Studio, the state store, MLflow, the loop.

The names below are the public API that notebooks and scripts use.
"""

from annotate._config import ProjectConfig, load_config
from annotate._plots import plot_curves
from annotate._simulate import SimulationReport, run_simulations
from annotate._tracking import tracking_uri

__all__ = [
    "ProjectConfig",
    "SimulationReport",
    "load_config",
    "plot_curves",
    "run_simulations",
    "tracking_uri",
]

"""The ``labelloop`` group: every command, each defined in the module of its group.

Nothing heavy is imported here: each command imports what it needs when it runs, so
``labelloop --help`` answers at once.
"""

from __future__ import annotations

import atexit
import gc
import os

import click

from labelloop.annotate.cli import data, labelstudio, loop, model, offline, reporting

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labelloop")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also show other libraries' log lines and progress bars (MLflow's); "
    "otherwise they go to <workdir>/logs/mlflow.log.",
)
def main(verbose: bool) -> None:
    """labelloop: active learning with Label Studio as the front end and MLflow as the record.

    \b
    Quick start:
      labelloop simulate --config configs/digits.yaml --out runs/digits
    """
    # Registered first, so it runs last: with MLflow, scikit-learn and the Label Studio
    # SDK loaded, the final garbage collection at exit took 0.6-1.3 s of every command.
    atexit.register(gc.freeze)
    if verbose:
        os.environ["LABELLOOP_VERBOSE"] = "1"


for _command in (
    offline.init,
    offline.simulate,
    offline.list_strategies,
    labelstudio.server,
    labelstudio.project,
    labelstudio.push,
    labelstudio.pull,
    labelstudio.listen,
    labelstudio.serve,
    loop.cycle,
    loop.run,
    loop.demo,
    data.accept_data,
    model.predict,
    reporting.status,
    reporting.report,
    reporting.export,
    reporting.ui,
):
    main.add_command(_command)

if __name__ == "__main__":
    main()

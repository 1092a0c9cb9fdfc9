"""``python -m tests.chaos``: the long chaos run (``make chaos``); a table of invariants."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from tests.chaos.runner import ChaosSettings, counts_table, report_table, run_chaos


def main() -> int:
    """Run the chaos run; exit 1 if any invariant was violated."""
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--ls-restarts", type=int, default=5)
    parser.add_argument("--mlflow-outages", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temporary dir")
    args = parser.parse_args()
    # SIGTERM ends the run like Ctrl-C: the servers it started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="labelloop-chaos-"))
    console = Console(stderr=True)
    console.print(f"chaos run in {workdir} (logs of every command in {workdir / 'chaos-logs'})")
    report = run_chaos(
        ChaosSettings(
            workdir=workdir,
            kills=args.kills,
            ls_restarts=args.ls_restarts,
            mlflow_outages=args.mlflow_outages,
            seed=args.seed,
            items=args.items,
            progress=lambda line: console.print(line, highlight=False),
        )
    )
    out = Console(width=120)
    out.print(counts_table(report))
    out.print(report_table(report))
    for name, found in report.violations.items():
        out.print(f"[bold red]{name}[/bold red]: {len(found)} violation(s); first: {found[:3]}")
    return 1 if report.total_violations else 0


if __name__ == "__main__":
    sys.exit(main())

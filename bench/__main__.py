"""`python -m bench [query|label_studio|turnaround|simulations|routing]`: run the benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

OUT = Path("runs/bench")


def _run_and_save(name: str, module: Any, width: int = 140) -> None:
    """Run one benchmark module, print its table, keep its rows in runs/bench/NAME.json."""
    console = Console(width=width)
    rows = module.run()
    console.print(module.table(rows))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))


def query() -> None:
    from bench import query_1m

    Console().print("[bold]query benchmark[/bold]: building the 1M x 300 pool ...")
    _run_and_save("query_1m", query_1m)


def label_studio() -> None:
    from bench import label_studio as ls_bench

    _run_and_save("label_studio", ls_bench)


def turnaround() -> None:
    from bench import turnaround as cycle_bench

    _run_and_save("turnaround", cycle_bench, width=150)


def simulations() -> None:
    """The strategy comparison tables on the three bundled pools (a few minutes)."""
    runs = [
        (
            "digits.yaml",
            "margin,entropy,least_confidence,diverse_margin,qbc_vote_entropy,random",
            "5",
        ),
        ("wine.yaml", "margin,entropy,diverse_margin,random", "5"),
        ("bbc_news.yaml", "margin,entropy,diverse_margin,random", "5"),
    ]
    for config, strategies, seeds in runs:
        name = config.removesuffix(".yaml")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "annotate.cli",
                "simulate",
                "--config",
                f"configs/{config}",
                "--out",
                str(OUT / f"sim-{name}"),
                "--strategies",
                strategies,
                "--seeds",
                seeds,
            ],
            check=True,
        )


def routing() -> None:
    """Human in the loop on the bundled pools: machine share and precision against gold."""
    runs = [
        ("bbc_news.yaml", []),
        ("digits.yaml", ["--eval-size", "0.4", "--budget", "300"]),
        ("wine.yaml", []),
    ]
    for config, extra in runs:
        name = config.removesuffix(".yaml")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "annotate.cli",
                "simulate",
                "--config",
                f"configs/{config}",
                "--out",
                str(OUT / f"routing-{name}"),
                "--routing",
                "--strategies",
                "margin,random",
                "--seeds",
                "3",
                *extra,
            ],
            check=True,
        )


if __name__ == "__main__":
    parts = {
        "query": query,
        "label_studio": label_studio,
        "turnaround": turnaround,
        "simulations": simulations,
        "routing": routing,
    }
    for part in sys.argv[1:] or list(parts):
        parts[part]()

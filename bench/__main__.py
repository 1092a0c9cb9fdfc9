"""`python -m bench [query|simulations]`: run the benchmarks and print their tables."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

OUT = Path("runs/bench")


def query() -> None:
    from bench import query_1m

    console = Console(width=140)
    console.print("[bold]query benchmark[/bold]: building the 1M x 300 pool ...")
    rows = query_1m.run()
    console.print(query_1m.table(rows))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "query_1m.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))


def label_studio() -> None:
    from bench import label_studio as ls_bench

    console = Console(width=140)
    rows = ls_bench.run()
    console.print(ls_bench.table(rows))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "label_studio.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))


def turnaround() -> None:
    from bench import turnaround as cycle_bench

    console = Console(width=150)
    rows = cycle_bench.run()
    console.print(cycle_bench.table(rows))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "turnaround.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))


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


if __name__ == "__main__":
    parts = {
        "query": query,
        "label_studio": label_studio,
        "turnaround": turnaround,
        "simulations": simulations,
    }
    for part in sys.argv[1:] or list(parts):
        parts[part]()

"""``python -m bench [PART ...]``: every benchmark, or the parts named.

Parts: startup, query, label_studio, turnaround, simulations, routing, embeddings, wide,
scale, scale_cycle. ``wide``, ``scale`` and ``scale_cycle`` take their own options after
their name.
"""

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


def startup() -> None:
    from bench import startup as startup_bench

    _run_and_save("startup", startup_bench)


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


def embeddings() -> None:
    from bench import embeddings as embedding_bench

    _run_and_save("embeddings", embedding_bench)


def _simulate(pool: str, out: str, *args: str) -> None:
    """Run `labelloop simulate` on a bundled pool's config, its table on the terminal."""
    command = [sys.executable, "-m", "labelloop.annotate.cli", "simulate"]
    command += ["--config", f"configs/{pool}.yaml", "--out", str(OUT / out), *args]
    subprocess.run(command, check=True)


def simulations() -> None:
    """The strategy comparison tables on the three bundled pools (a few minutes)."""
    runs = [
        ("digits", "margin,entropy,least_confidence,diverse_margin,qbc_vote_entropy,random"),
        ("wine", "margin,entropy,diverse_margin,random"),
        ("bbc_news", "margin,entropy,diverse_margin,random"),
    ]
    for pool, strategies in runs:
        _simulate(pool, f"sim-{pool}", "--strategies", strategies, "--seeds", "5")


def routing() -> None:
    """Human in the loop on the bundled pools: machine share and precision against gold."""
    runs = [
        ("bbc_news", []),
        ("digits", ["--eval-size", "0.4", "--budget", "300"]),
        ("wine", []),
    ]
    for pool, extra in runs:
        _simulate(
            pool,
            f"routing-{pool}",
            "--routing",
            "--strategies",
            "margin,random",
            "--seeds",
            "3",
            *extra,
        )


def wide() -> None:
    """The wide suite: init's defaults against random on every pool, 20 seeds each."""
    from bench import wide as wide_bench

    wide_bench.main(sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "wide" else [])


def scale() -> None:
    """Pools past memory: one query on 10M numeric rows and 2M texts, stream and Dask."""
    from bench import scale as scale_bench

    scale_bench.main(sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "scale" else [])


def scale_cycle() -> None:
    """The loop's commands on 10M Parquet rows against a real Label Studio."""
    from bench import scale_cycle as scale_cycle_bench

    named = len(sys.argv) > 1 and sys.argv[1] == "scale_cycle"
    scale_cycle_bench.main(sys.argv[2:] if named else [])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("wide", "scale", "scale_cycle"):
        {"wide": wide, "scale": scale, "scale_cycle": scale_cycle}[sys.argv[1]]()
        sys.exit(0)
    parts = {
        "startup": startup,
        "query": query,
        "label_studio": label_studio,
        "turnaround": turnaround,
        "simulations": simulations,
        "routing": routing,
        "embeddings": embeddings,
        "wide": wide,
        "scale": scale,
        "scale_cycle": scale_cycle,
    }
    for part in sys.argv[1:] or list(parts):
        parts[part]()

"""How long a command takes before it does anything: `labelloop --help` beside `import pandas`."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

BIN = Path(sys.executable).parent
RUNS = 10


@dataclass
class Row:
    command: str
    median_s: float
    min_s: float
    max_s: float


COMMANDS = {
    "labelloop --help": [str(BIN / "labelloop"), "--help"],
    "labelloop simulate --help": [str(BIN / "labelloop"), "simulate", "--help"],
    'python -c "import pandas"': [sys.executable, "-c", "import pandas"],
    'python -c "import sklearn"': [sys.executable, "-c", "import sklearn"],
}


def run() -> list[Row]:
    rows = []
    for name, command in COMMANDS.items():
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        rows.append(Row(name, statistics.median(times), min(times), max(times)))
    return rows


def table(rows: list[Row]) -> Table:
    out = Table(title=f"start-up: wall clock of a fresh process, {RUNS} runs each")
    for column in ("command", "median s", "min s", "max s"):
        out.add_column(column, justify="left" if column == "command" else "right")
    for row in rows:
        out.add_row(row.command, f"{row.median_s:.3f}", f"{row.min_s:.3f}", f"{row.max_s:.3f}")
    return out

"""The loop on a pool past memory: ``labelloop`` commands on 10M Parquet rows, real Label Studio.

``python -m bench scale_cycle [--numeric N]``: ``init`` on the generated numeric pool
(the one ``python -m bench scale`` writes, reused when there), then cycles against a
Label Studio started here, an annotator labelling every open task with the pool's
label between them, a cycle scored on a local Dask cluster, ``status``, and a streamed
``simulate`` (margin and random to 60 labels, the pool scored at every step). Each
command runs in its own process; its peak memory is that of the process and its
children (Dask's workers), sampled every 20 ms. Target: the cycle stays within 2 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.scale import OUT, generate_numeric

LABELLOOP = str(Path(sys.executable).with_name("labelloop"))


@dataclass
class Step:
    """One command: wall seconds, peak resident memory, and its last line."""

    step: str
    seconds: float
    peak_mb: float
    said: str


def measured(step: str, argv: list[str], env: dict[str, str]) -> Step:
    """Run a command, sampling the resident memory of it and its children."""
    import psutil

    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    process = psutil.Process(child.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            total = 0
            with contextlib.suppress(psutil.Error):
                total = process.memory_info().rss
                for sub in process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        total += sub.memory_info().rss
            peak = max(peak, total)
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output, _ = child.communicate()
    seconds = time.perf_counter() - start
    done.set()
    thread.join()
    text = output.decode(errors="replace").strip()
    if child.returncode != 0:
        raise SystemExit(f"{step} failed ({child.returncode}): {text[-2000:]}")
    said = next((line for line in text.splitlines() if line.startswith(("cycle", "wrote"))), "")
    return Step(step, round(seconds, 1), round(peak / 2**20), said[:150])


def label_open_tasks(workdir: Path, name: str, data: Path) -> int:
    """Label every open task with the pool's own label, as an annotator would."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from labelloop.annotate.labelstudio.client import sdk_client
    from labelloop.annotate.labelstudio.server import load_credentials
    from labelloop.annotate.state.store import StateStore

    state = StateStore(workdir / "projects" / name / "state.sqlite")
    try:
        open_tasks = {row["item_id"]: row["task_id"] for row in state.open_tasks()}
    finally:
        state.close()
    wanted = pa.array(sorted(open_tasks), type=pa.string())
    truth: dict[str, str] = {}
    for path in sorted(data.glob("*.parquet")):
        table = pq.read_table(path, columns=["id", "label"])
        found = table.filter(pc.is_in(table["id"].cast(pa.string()), value_set=wanted))
        labels = [str(v) for v in found["label"].to_pylist()]
        truth.update(zip(found["id"].to_pylist(), labels, strict=True))
    credentials = load_credentials(workdir)
    assert credentials is not None
    client = sdk_client(credentials.url, credentials.api_key)
    for item, task in open_tasks.items():
        choice = {"choices": [truth[item]]}
        result = [{"from_name": "label", "to_name": "table", "type": "choices", "value": choice}]
        client.annotations.create(id=task, result=result)
    return len(open_tasks)


def run(n_numeric: int = 10_000_000) -> tuple[list[Step], dict[str, Any]]:
    """Init, three cycles with an annotator between them, one on Dask, then status."""
    from labelloop.annotate.labelstudio.server import free_port, start_server, stop_server

    data = generate_numeric(n_numeric)
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="labelloop-scale-cycle-") as scratch:
        workdir, configs = Path(scratch) / "work", Path(scratch) / "configs"
        env = {**os.environ, "LABELLOOP_CACHE_DIR": str(Path(scratch) / "cache")}
        steps.append(
            measured(
                "init",
                [
                    *(LABELLOOP, "init", "big", "--data", str(data)),
                    *("--label-column", "label", "--id-column", "id"),
                    *("--configs-dir", str(configs)),
                ],
                env,
            )
        )
        config = configs / "big.yaml"
        start_server(workdir, port=free_port())
        try:
            cycle = [LABELLOOP, "cycle", "--config", str(config), "--workdir", str(workdir)]
            labelled = 0
            for number in (1, 2, 3):
                what = "cold start" if number == 1 else "trained, pool streamed"
                steps.append(measured(f"cycle {number} ({what})", cycle, env))
                labelled += label_open_tasks(workdir, "big", data)
            settings = yaml.safe_load(config.read_text())
            settings["scoring"] = {"engine": "dask", "workers": 2}
            config.write_text(yaml.safe_dump(settings, sort_keys=False))
            steps.append(measured("cycle 4 (pool scored on Dask, 2 workers)", cycle, env))
            status = [LABELLOOP, "status", "--config", str(config), "--workdir", str(workdir)]
            steps.append(measured("status", status, env))
            state_bytes = (workdir / "projects" / "big" / "state.sqlite").stat().st_size
        finally:
            stop_server(workdir)
        simulate = [
            *(LABELLOOP, "simulate", "--config", str(config), "--stream"),
            *("--strategies", "margin,random", "--seeds", "1", "--budget", "60"),
            *("--out", str(Path(scratch) / "simulation")),
        ]
        steps.append(measured("simulate --stream (margin and random, 60 labels)", simulate, env))
    facts = {"items": n_numeric, "labelled": labelled, "state_sqlite_bytes": state_bytes}
    return steps, facts


def table(steps: list[Step], facts: dict[str, Any]) -> Any:
    """The steps as a rich table."""
    from rich.table import Table

    out = Table(
        title=f"labelloop on {facts['items']:,} Parquet rows against Label Studio "
        f"(state file {facts['state_sqlite_bytes'] / 2**10:,.0f} KiB after "
        f"{facts['labelled']} labels)"
    )
    for name, justify in (("step", "left"), ("seconds", "right"), ("peak memory", "right")):
        out.add_column(name, justify=justify)  # type: ignore[arg-type]
    out.add_column("what it said", overflow="fold")
    for s in steps:
        out.add_row(s.step, f"{s.seconds:.1f}", f"{s.peak_mb:,.0f} MB", s.said)
    return out


def main(argv: list[str]) -> None:
    """``python -m bench scale_cycle``: run, print the table, write the JSON beside."""
    from rich.console import Console

    parser = argparse.ArgumentParser(prog="python -m bench scale_cycle")
    parser.add_argument("--numeric", type=int, default=10_000_000, help="pool rows")
    args = parser.parse_args(argv)
    steps, facts = run(args.numeric)
    Console(width=160).print(table(steps, facts))
    target = OUT.parent / "scale_cycle.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"steps": [asdict(s) for s in steps], **facts}, indent=1))
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])

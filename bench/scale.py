"""One query of 100 on pools past memory: 10M numeric rows and 2M short texts in Parquet.

Run with ``make bench`` (or ``python -m bench scale [--numeric N] [--texts N]``). The
pools are generated once into ``runs/bench/scale/data`` (about 2.3 GB) and reused.

The 2,000 labelled items are excluded from the picks, as in a cycle. Each measurement
runs in a fresh process, so its peak memory is its own: the resident
memory of that process and all its children (Dask's scheduler and workers included),
sampled every 20 ms. Dask's local cluster is started before the clock starts; its
start-up is reported on its own.

The extrapolation table uses the measured median cost of one partition's task (read,
featurize, score, cut) and assumes partitions are independent: time to score N items on
W workers ~ N x (cost per item) / W + the measured fixed cost (merge, diversity, task
overhead). That assumption is what is extrapolated; storage bandwidth, the scheduler's
overhead per task past thousands of tasks and the network are not measured here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path("runs/bench/scale")
DATA = OUT / "data"
N_FEATURES, N_CLASSES, ROW_GROUP, BATCH, N_LABELLED = 50, 10, 250_000, 100, 2_000
ROWS_PER_FILE = 500_000
CORES = 2


@dataclass
class Row:
    pool: str
    items: int
    strategy: str
    engine: str
    seconds: float
    peak_mb: float
    items_per_s_per_core: float
    partition_seconds: float
    partition_rows: int
    startup_seconds: float
    same_as_stream: bool | None = None


# ---------------------------------------------------------------- the pools


def _numeric_folder(n_items: int) -> Path:
    return DATA / f"numeric-{n_items}"


def _text_folder(n_items: int) -> Path:
    return DATA / f"text-{n_items}"


def generate_numeric(n_items: int) -> Path:
    """10 Gaussian classes in 50 float32 features, in files of 500k rows (cached)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _numeric_folder(n_items)
    if (folder / "_DONE").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    centers = np.random.default_rng(0).normal(0.0, 1.0, (N_CLASSES, N_FEATURES))
    for number, start in enumerate(range(0, n_items, ROWS_PER_FILE)):
        rows = min(ROWS_PER_FILE, n_items - start)
        rng = np.random.default_rng(1 + number)
        y = rng.integers(0, N_CLASSES, rows)
        X = (centers[y] + rng.normal(0.0, 3.0, (rows, N_FEATURES))).astype(np.float32)
        columns: dict[str, Any] = {"id": pa.array([f"n{start + i:09d}" for i in range(rows)])}
        for j in range(N_FEATURES):
            columns[f"f{j:02d}"] = pa.array(X[:, j])
        columns["label"] = pa.array(y.astype(np.int16))
        pq.write_table(
            pa.table(columns), folder / f"part-{number:04d}.parquet", row_group_size=ROW_GROUP
        )
        print(f"  wrote {start + rows:,} of {n_items:,} numeric rows", flush=True)
    (folder / "_DONE").write_text("")
    return folder


_COMMON = [
    "the",
    "a",
    "and",
    "to",
    "of",
    "in",
    "it",
    "is",
    "for",
    "on",
    "that",
    "this",
    "with",
    "was",
    "my",
    "you",
    "at",
    "be",
    "are",
    "have",
    "not",
    "but",
    "so",
    "very",
    "just",
    "all",
    "they",
    "we",
    "one",
    "out",
    "get",
    "like",
    "would",
    "there",
]


def generate_texts(n_items: int) -> Path:
    """Short texts (6-16 words) from 10 topics over shared words, files of 500k (cached)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _text_folder(n_items)
    if (folder / "_DONE").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    vocabulary = np.array([f"w{i}" for i in range(20_000)] + _COMMON)
    topic_words = np.random.default_rng(0).integers(0, 20_000, (N_CLASSES, 300))
    for number, start in enumerate(range(0, n_items, ROWS_PER_FILE)):
        rows = min(ROWS_PER_FILE, n_items - start)
        rng = np.random.default_rng(100 + number)
        y = rng.integers(0, N_CLASSES, rows)
        lengths = rng.integers(6, 17, rows)
        texts = []
        for label, length in zip(y, lengths, strict=True):
            topical = rng.random(length) < 0.35
            words = np.where(
                topical,
                topic_words[label, rng.integers(0, 300, length)],
                rng.integers(0, vocabulary.size, length),
            )
            texts.append(" ".join(vocabulary[words]))
        table = pa.table(
            {
                "id": pa.array([f"t{start + i:09d}" for i in range(rows)]),
                "text": pa.array(texts),
                "label": pa.array(y.astype(np.int16)),
            }
        )
        pq.write_table(table, folder / f"part-{number:04d}.parquet", row_group_size=ROW_GROUP)
        print(f"  wrote {start + rows:,} of {n_items:,} texts", flush=True)
    (folder / "_DONE").write_text("")
    return folder


def _open(kind: str, folder: Path) -> Any:
    from labelloop.datasets import ParquetPool

    if kind == "numeric":
        columns = [f"f{j:02d}" for j in range(N_FEATURES)]
        return ParquetPool.open(
            folder, id_column="id", feature_columns=columns, label_column="label"
        )
    return ParquetPool.open(folder, id_column="id", text_column="text", label_column="label")


def _model(pool: Any) -> tuple[Any, Any, set[str]]:
    """Logistic regression on the first 2,000 rows of the pool (the labelled set)."""
    from sklearn.linear_model import LogisticRegression

    first = pool.partitions[0]
    ids, X = pool.load(first)
    y = pool.labels(first)
    X_labelled = X[:N_LABELLED].copy()
    model = LogisticRegression(max_iter=300).fit(X_labelled, y[:N_LABELLED])
    return model, X_labelled, {str(i) for i in ids[:N_LABELLED]}


# ----------------------------------------------------------- one measurement


class _PeakMemory:
    """Peak resident memory of this process and all its children, sampled every 20 ms."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _total(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(Exception):  # a child that just ended
                total += child.memory_info().rss
        return int(total)

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self._total())
            time.sleep(0.02)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return max(self.peak, self._total()) / 2**20


def measure_one(kind: str, folder: str, strategy: str, engine: str) -> dict[str, Any]:
    """One query in this process: seconds, peak memory, per-partition cost, the picks."""
    from labelloop.learners import local_cluster, stream_query

    pool = _open(kind, Path(folder))
    model, X_labelled, labelled = _model(pool)
    client = None
    cluster = None
    startup = 0.0
    if engine == "dask":
        from distributed import Client

        started = time.perf_counter()
        cluster = local_cluster(CORES)
        client = Client(cluster)
        # Workers import labelloop and scikit-learn once; a warm cluster has done so.
        client.run(lambda: __import__("labelloop.learners._streaming"))
        client.run(lambda: __import__("sklearn.linear_model"))
        startup = time.perf_counter() - started
    memory = _PeakMemory()
    try:
        result = stream_query(
            pool,
            model,
            BATCH,
            strategy=strategy,
            X_labelled=X_labelled,
            engine=engine,
            client=client,
            exclude=labelled,
        )
    finally:
        peak = memory.stop()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    rows = statistics.median([pool.read(p, [pool.id_column]).num_rows for p in pool.partitions[:3]])
    return {
        "seconds": result.seconds,
        "peak_mb": peak,
        "partition_seconds": statistics.median(result.partition_seconds),
        "partition_rows": int(rows),
        "startup_seconds": startup,
        "items": result.n_scored,
        "ids": result.ids,
    }


def _in_child(kind: str, folder: Path, strategy: str, engine: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.scale", "--one", kind, str(folder), strategy, engine]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------- the run


def run(n_numeric: int = 10_000_000, n_texts: int = 2_000_000) -> list[Row]:
    """Generate (once) and query both pools with both strategies on both engines."""
    print(f"scale benchmark: pools in {DATA} (generated once)", flush=True)
    pools = [("numeric", generate_numeric(n_numeric)), ("text", generate_texts(n_texts))]
    rows = []
    for kind, folder in pools:
        for strategy in ("margin", "diverse_margin"):
            picks: dict[str, list[str]] = {}
            for engine in ("stream", "dask"):
                print(f"  {kind} {strategy} on {engine} ...", flush=True)
                found = _in_child(kind, folder, strategy, engine)
                picks[engine] = found["ids"]
                rows.append(
                    Row(
                        pool=f"{kind} ({found['items']:,})",
                        items=found["items"],
                        strategy=strategy,
                        engine="stream (1 process)"
                        if engine == "stream"
                        else f"dask ({CORES} workers)",
                        seconds=found["seconds"],
                        peak_mb=found["peak_mb"],
                        items_per_s_per_core=found["items"] / found["seconds"] / CORES,
                        partition_seconds=found["partition_seconds"],
                        partition_rows=found["partition_rows"],
                        startup_seconds=found["startup_seconds"],
                        same_as_stream=None
                        if engine == "stream"
                        else picks["dask"] == picks["stream"],
                    )
                )
    return rows


def extrapolate(rows: list[Row], items: int = 100_000_000) -> list[dict[str, Any]]:
    """Time to score ``items`` on 1-64 workers from each row's measured partition cost."""
    out = []
    for row in rows:
        if not row.engine.startswith("dask"):
            continue
        per_item = row.partition_seconds / row.partition_rows
        fixed = max(row.seconds - row.items * per_item / CORES, 0.0)
        estimate: dict[str, Any] = {"pool": row.pool.split(" ")[0], "strategy": row.strategy}
        estimate["per_million_s"] = per_item * 1e6
        estimate["fixed_s"] = fixed
        for workers in (1, 2, 8, 32, 64):
            estimate[f"w{workers}"] = items * per_item / workers + fixed
        out.append(estimate)
    return out


def table(rows: list[Row]) -> Any:
    from rich.table import Table

    out = Table(
        title=f"One query of {BATCH} on a Parquet pool (measured; {CORES} cores, "
        f"row groups of {ROW_GROUP:,})",
        title_justify="left",
    )
    for column in (
        "pool",
        "strategy",
        "engine",
        "seconds",
        "peak memory",
        "items/s per core",
        "one partition",
        "cluster start",
        "same picks",
    ):
        left = column in ("pool", "strategy", "engine")
        out.add_column(column, justify="left" if left else "right")
    for row in rows:
        out.add_row(
            row.pool,
            row.strategy,
            row.engine,
            f"{row.seconds:.1f}",
            f"{row.peak_mb:,.0f} MB",
            f"{row.items_per_s_per_core:,.0f}",
            f"{row.partition_seconds:.2f} s",
            f"{row.startup_seconds:.1f} s" if row.startup_seconds else "-",
            "-" if row.same_as_stream is None else "yes" if row.same_as_stream else "NO",
        )
    return out


def extrapolation_table(estimates: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    out = Table(
        title="Extrapolated: seconds to score 100M items by Dask workers (from the measured "
        "cost per partition; linear in items, divided by workers)",
        title_justify="left",
    )
    for column in ("pool", "strategy", "s per 1M items (1 worker)", "fixed s"):
        out.add_column(column, justify="left" if column in ("pool", "strategy") else "right")
    for workers in (1, 2, 8, 32, 64):
        out.add_column(f"{workers} worker{'s' if workers > 1 else ''}", justify="right")
    for e in estimates:
        out.add_row(
            e["pool"],
            e["strategy"],
            f"{e['per_million_s']:.2f}",
            f"{e['fixed_s']:.1f}",
            *(f"{e[f'w{w}']:,.0f}" for w in (1, 2, 8, 32, 64)),
        )
    return out


def main(argv: list[str]) -> None:
    """``python -m bench scale``: run, print both tables, write runs/bench/scale.json."""
    from rich.console import Console

    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--numeric", type=int, default=10_000_000, help="numeric pool rows")
    parser.add_argument("--texts", type=int, default=2_000_000, help="text pool rows")
    args = parser.parse_args(argv)
    rows = run(args.numeric, args.texts)
    estimates = extrapolate(rows)
    console = Console(width=160)
    console.print(table(rows))
    console.print(extrapolation_table(estimates))
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {"rows": [asdict(r) for r in rows], "extrapolated": estimates}
    (OUT.parent / "scale.json").write_text(json.dumps(payload, indent=1))
    print(f"wrote {OUT.parent / 'scale.json'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
        found = measure_one(*sys.argv[2:6])
        print(json.dumps(found))
    else:
        main(sys.argv[1:])

"""One query on 1,000,000 items x 300 dense float features: labelloop against modAL.

Run with ``make bench`` (or ``python -m bench query``). Targets: margin at most 0.5x
modAL's ``margin_sampling`` time; the diverse batch of 100 under 5 s. modAL's
``uncertainty_batch_sampling`` runs in a child process and is stopped at the cap.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from modAL.batch import uncertainty_batch_sampling
from modAL.models import ActiveLearner
from modAL.uncertainty import margin_sampling as modal_margin_sampling
from sklearn.linear_model import LogisticRegression

from labelloop.learners import apply_modal_shim, diverse_margin_sampling, margin_sampling

N_ITEMS, N_FEATURES, N_CLASSES, N_LABELLED, BATCH = 1_000_000, 300, 10, 2_000, 100


@dataclass
class Row:
    what: str
    implementation: str
    seconds: float | None
    note: str


def make_pool(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, (N_CLASSES, N_FEATURES))
    y = rng.integers(0, N_CLASSES, N_ITEMS)
    X = centers[y]
    X += rng.normal(0.0, 4.0, (N_ITEMS, N_FEATURES))
    return X, y


def best_of(fn: Callable[[], Any], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _ranked_batch_child(seed: int, queue: Any) -> None:
    apply_modal_shim()
    X, y = make_pool(seed)
    model = LogisticRegression(max_iter=300).fit(X[:N_LABELLED], y[:N_LABELLED])
    learner = ActiveLearner(estimator=model)
    learner.X_training = X[:N_LABELLED]
    start = time.perf_counter()
    uncertainty_batch_sampling(learner, X, n_instances=BATCH)
    queue.put(time.perf_counter() - start)


def modal_ranked_batch(cap_s: float) -> float | None:
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_ranked_batch_child, args=(0, queue))
    child.start()
    deadline = time.monotonic() + cap_s + 60  # + time to rebuild the pool in the child
    while time.monotonic() < deadline and child.is_alive():
        if not queue.empty():
            break
        time.sleep(0.5)
    result = None if queue.empty() else float(queue.get())
    if child.is_alive():
        child.terminate()
    child.join()
    if result is not None and result > cap_s:
        return None
    return result


def run(cap_s: float = 120.0) -> list[Row]:
    apply_modal_shim()
    X, y = make_pool()
    model = LogisticRegression(max_iter=300).fit(X[:N_LABELLED], y[:N_LABELLED])
    rng = np.random.default_rng(0)
    rows = []
    ours = best_of(lambda: margin_sampling(model, X, BATCH, rng=rng), repeats=5)
    theirs = best_of(lambda: modal_margin_sampling(model, X, n_instances=BATCH), repeats=5)
    rows.append(
        Row(
            "margin, top 100",
            "labelloop margin_sampling",
            ours,
            f"{ours / theirs:.2f}x modAL (target <= 0.5x)",
        )
    )
    rows.append(Row("margin, top 100", "modAL margin_sampling", theirs, "median of 5"))
    X32 = X.astype(np.float32)
    ours32 = best_of(lambda: margin_sampling(model, X32, BATCH, rng=rng))
    theirs32 = best_of(lambda: modal_margin_sampling(model, X32, n_instances=BATCH), repeats=1)
    rows.append(
        Row(
            "margin, float32 pool",
            "labelloop margin_sampling",
            ours32,
            f"{ours32 / theirs32:.2f}x modAL on float32",
        )
    )
    rows.append(
        Row(
            "margin, float32 pool",
            "modAL margin_sampling",
            theirs32,
            "sklearn upcasts the pool; 1 run",
        )
    )
    diverse = best_of(
        lambda: diverse_margin_sampling(model, X, BATCH, rng=rng, X_labelled=X[:N_LABELLED])
    )
    rows.append(
        Row("diverse batch of 100", "labelloop diverse_margin_sampling", diverse, "target < 5 s")
    )
    ranked = modal_ranked_batch(cap_s)
    note = "finished" if ranked is not None else f"did not finish within the {cap_s:.0f} s cap"
    rows.append(Row("diverse batch of 100", "modAL uncertainty_batch_sampling", ranked, note))
    return rows


def table(rows: list[Row]) -> Any:
    from rich.table import Table

    out = Table(
        title=f"One query on {N_ITEMS:,} items x {N_FEATURES} float64 features "
        f"({N_CLASSES} classes, logistic regression, {N_LABELLED:,} labelled)",
        title_justify="left",
    )
    for column in ("query", "implementation", "seconds", "note"):
        out.add_column(column, justify="right" if column == "seconds" else "left")
    for row in rows:
        seconds = f"{row.seconds:.3f}" if row.seconds is not None else "> cap"
        out.add_row(row.what, row.implementation, seconds, row.note)
    return out

"""Queries over pools too big to hold: an exact running top-k, partition by partition.

A pool that is never loaded whole is a list of *partitions* (a Parquet row group, say),
each read into ``(ids, features)`` on its own. Every partition is scored and cut to its
best ``k`` rows; the cuts merge into the pool's best ``k``. The result is exact: the
items a query over the whole matrix would rank first, with equal scores ordered by a
seeded hash of the item id, so the same pool gives the same picks whatever its
partitioning and whichever engine ran it.

Two engines run the partitions:

``stream``
    One process, one partition at a time: memory is one partition plus the candidates.
``dask``
    :mod:`dask.distributed`: a local cluster (worker processes on this machine) by
    default, or any scheduler by address. The model is sent to each worker once; each
    task reads, featurizes and cuts one partition, so only candidates travel back.

Diversity (``diverse_margin``) keeps ``max(10 n, 500)`` margin candidates with their
features, then spreads the batch over them by the k-center greedy of
:func:`~labelloop.learners.diverse_margin_sampling`. With up to 2,000 labelled rows
the picks are the in-memory ones; past that both measure distances to a random
2,000 of them, drawn differently (here from ``seed``), so the picks may differ.

Per-row scores are computed in single precision; the picks are the same across
layouts and engines as long as a row's score does not depend on the rows scored with
it, which holds for the BLAS builds these wheels ship (OpenBLAS) but is not promised
by every BLAS.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from labelloop.learners._diversity import k_center_greedy
from labelloop.learners._scores import margin_scores, score_pool
from labelloop.learners._types import Matrix, ProbabilisticClassifier

__all__ = [
    "ENGINES",
    "STREAM_STRATEGIES",
    "Candidates",
    "PartitionedPool",
    "StreamQuery",
    "candidate_count",
    "local_cluster",
    "merge_candidates",
    "partition_candidates",
    "stream_query",
    "tie_keys",
]

ENGINES = ("stream", "dask")
STREAM_STRATEGIES = ("margin", "diverse_margin")
MAX_REFERENCE = 2_000  # labelled rows diverse margin measures distances to, as in memory


class PartitionedPool(Protocol):
    """A pool read one partition at a time (see :class:`labelloop.datasets.ParquetPool`).

    ``partitions`` names every partition; ``load(partition)`` returns that partition's
    item ids and feature rows. Both must pickle, so Dask workers can read partitions.
    """

    @property
    def partitions(self) -> Sequence[Hashable]:
        """Every partition, in a fixed order."""
        ...

    def load(self, partition: Any) -> tuple[NDArray[Any], Matrix]:
        """Return ``(ids, X)`` for one partition."""
        ...


@dataclass(frozen=True)
class Candidates:
    """The best rows of one partition (or of several, merged), best first.

    Attributes
    ----------
    ids : numpy.ndarray of str
        Item ids.
    scores : numpy.ndarray of float
        Margin scores (higher = less sure).
    ties : numpy.ndarray of uint64
        The seeded hash of each id that orders equal scores.
    features : array or sparse matrix, optional
        Their feature rows, kept when a diversity step needs them.
    n_scored : int
        How many rows were scored to find them.
    """

    ids: NDArray[Any]
    scores: NDArray[np.float64]
    ties: NDArray[np.uint64]
    features: Matrix | None = None
    n_scored: int = 0


@dataclass(frozen=True)
class StreamQuery:
    """A query's picks and what it cost.

    Attributes
    ----------
    ids : list of str
        The picked item ids, in pick order.
    scores : numpy.ndarray of float
        Their margin scores.
    n_scored : int
        Items scored.
    n_partitions : int
        Partitions read.
    seconds : float
        Wall time of the query.
    partition_seconds : list of float
        Wall time of each partition's task (read, featurize, score, cut), where it ran.
    """

    ids: list[str]
    scores: NDArray[np.float64]
    n_scored: int
    n_partitions: int
    seconds: float
    partition_seconds: list[float] = field(default_factory=list)


def tie_keys(ids: Sequence[Any] | NDArray[Any], seed: int) -> NDArray[np.uint64]:
    """Hash each id with a seed into 64 bits: the order among equal scores.

    It depends on the id and the seed only, never on where the item sits in the pool.

    Parameters
    ----------
    ids : sequence
        Item ids (compared as text).
    seed : int
        The salt of the hash.

    Returns
    -------
    numpy.ndarray of uint64

    Examples
    --------
    >>> a = tie_keys(["x", "y"], 0)
    >>> bool((a == tie_keys(["x", "y"], 0)).all()), bool((a == tie_keys(["x", "y"], 1)).all())
    (True, False)
    """
    salt = str(int(seed)).encode()
    out = np.empty(len(ids), dtype=np.uint64)
    for i, item in enumerate(ids):
        digest = hashlib.blake2b(str(item).encode(), digest_size=8, key=salt).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


def candidate_count(n: int, strategy: str) -> int:
    """How many candidates a query of ``n`` keeps per partition and in the end.

    Margin needs exactly ``n``; diverse margin keeps ``max(10 n, 500)``, as in memory.

    Parameters
    ----------
    n : int
        Items to pick.
    strategy : {"margin", "diverse_margin"}

    Returns
    -------
    int

    Raises
    ------
    ValueError
        For a strategy that cannot stream.
    """
    if strategy == "margin":
        return n
    if strategy == "diverse_margin":
        return max(10 * n, 500)
    raise ValueError(
        f"strategy {strategy!r} cannot stream; use one of {', '.join(STREAM_STRATEGIES)}"
    )


def _best(
    scores: NDArray[np.float64], ids: NDArray[Any], k: int, seed: int
) -> tuple[NDArray[np.intp], NDArray[np.uint64]]:
    """Positions of the best ``k`` by (score desc, tie hash asc), and their hashes."""
    keep: NDArray[np.intp]
    if scores.size <= k:
        keep = np.arange(scores.size, dtype=np.intp)
    else:
        cutoff = scores[np.argpartition(-scores, k - 1)[k - 1]]
        keep = np.flatnonzero(scores >= cutoff).astype(np.intp)  # ties at the cutoff stay
    ties = tie_keys(ids[keep], seed)
    order = np.lexsort((ties, -scores[keep]))[:k]
    return keep[order].astype(np.intp), ties[order]


def partition_candidates(
    model: ProbabilisticClassifier,
    ids: NDArray[Any],
    X: Matrix,
    k: int,
    *,
    seed: int,
    keep_features: bool = False,
    n_threads: int = 2,
    exclude: frozenset[str] | None = None,
) -> Candidates:
    """Score one partition by margin and keep its best ``k`` rows.

    Parameters
    ----------
    model : ProbabilisticClassifier
        The fitted classifier; only read.
    ids : numpy.ndarray
        The partition's item ids.
    X : array or sparse matrix
        Their features, one row per id.
    k : int
        Rows to keep (:func:`candidate_count`).
    seed : int
        Seeds the order among equal scores.
    keep_features : bool
        Keep the kept rows' features (for diversity).
    n_threads : int
        Threads for scoring (see :func:`~labelloop.learners.score_pool`).
    exclude : frozenset of str, optional
        Ids never to keep (labelled or queued items); dropped before the cut.

    Returns
    -------
    Candidates
    """
    ids = np.asarray(ids, dtype=object)
    if ids.shape[0] != X.shape[0]:
        raise ValueError(f"{ids.shape[0]} ids but {X.shape[0]} feature rows")
    n_scored = int(ids.shape[0])
    scores = score_pool(model, X, margin_scores, n_threads=n_threads)
    if exclude:
        # Excluded rows can take at most len(exclude) places: look them up only among
        # the best k + len(exclude), never row by row over the whole partition.
        wide = min(n_scored, k + len(exclude))
        if wide < n_scored:
            cutoff = scores[np.argpartition(-scores, wide - 1)[wide - 1]]
            near = np.flatnonzero(scores >= cutoff)
        else:
            near = np.arange(n_scored)
        allowed = np.fromiter((str(i) not in exclude for i in ids[near]), bool, near.size)
        near = near[allowed].astype(np.intp)
        chosen, ties = _best(scores[near], ids[near], k, seed)
        keep = near[chosen]
    else:
        keep, ties = _best(scores, ids, k, seed)
    features = X[keep] if keep_features else None
    return Candidates(ids[keep], scores[keep], ties, features, n_scored=n_scored)


def merge_candidates(parts: Sequence[Candidates], k: int) -> Candidates:
    """Merge partitions' candidates into the best ``k`` overall (exact).

    The order is score descending, then tie hash ascending: a total order, so merging
    in any grouping (as partitions finish) gives the same result.

    Parameters
    ----------
    parts : sequence of Candidates
    k : int
        Rows to keep.

    Returns
    -------
    Candidates
        Features are kept when every part has them.

    Examples
    --------
    >>> a = Candidates(np.array(["a"]), np.array([0.9]), np.array([1], dtype=np.uint64))
    >>> b = Candidates(np.array(["b"]), np.array([0.5]), np.array([2], dtype=np.uint64))
    >>> merge_candidates([b, a], 1).ids.tolist()
    ['a']
    """
    parts = [p for p in parts if p.ids.size] or list(parts[:1])
    if not parts:
        raise ValueError("no partitions to merge")
    ids = np.concatenate([p.ids for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    ties = np.concatenate([p.ties for p in parts])
    order = np.lexsort((ties, -scores))[:k]
    features: Matrix | None = None
    blocks: list[Any] = [p.features for p in parts if p.features is not None]
    if len(blocks) == len(parts):
        stacked: Any = (
            sp.vstack(blocks, format="csr") if sp.issparse(blocks[0]) else np.vstack(blocks)
        )
        features = stacked[order]
    return Candidates(
        ids[order], scores[order], ties[order], features, sum(p.n_scored for p in parts)
    )


def _finish(
    merged: Candidates, n: int, strategy: str, X_labelled: Matrix | None, seed: int
) -> tuple[list[str], NDArray[np.float64]]:
    if strategy == "margin":
        return [str(i) for i in merged.ids[:n]], merged.scores[:n]
    assert merged.features is not None
    reference = X_labelled
    if reference is not None and reference.shape[0] > MAX_REFERENCE:
        rng = np.random.default_rng(seed)
        reference = reference[rng.choice(reference.shape[0], MAX_REFERENCE, replace=False)]
    picks = k_center_greedy(merged.features, n, reference=reference)
    return [str(i) for i in merged.ids[picks]], merged.scores[picks]


def _partition_task(
    pool: PartitionedPool,
    partition: Any,
    model: ProbabilisticClassifier,
    k: int,
    seed: int,
    keep_features: bool,
    n_threads: int,
    exclude: frozenset[str],
) -> tuple[Candidates, float]:
    started = time.perf_counter()
    ids, X = pool.load(partition)
    found = partition_candidates(
        model,
        ids,
        X,
        k,
        seed=seed,
        keep_features=keep_features,
        n_threads=n_threads,
        exclude=exclude,
    )
    return found, time.perf_counter() - started


def stream_query(
    pool: PartitionedPool,
    model: ProbabilisticClassifier,
    n: int,
    *,
    strategy: str = "margin",
    seed: int = 0,
    X_labelled: Matrix | None = None,
    engine: str = "stream",
    scheduler: str | None = None,
    n_workers: int = 2,
    client: Any = None,
    exclude: Collection[str] | None = None,
    on_partition: Callable[[int], None] | None = None,
) -> StreamQuery:
    """Pick ``n`` items of a partitioned pool by margin or diverse margin.

    Parameters
    ----------
    pool : PartitionedPool
        The pool, read partition by partition.
    model : ProbabilisticClassifier
        The fitted classifier.
    n : int
        Items to pick.
    strategy : {"margin", "diverse_margin"}
        The acquisition strategy.
    seed : int
        Orders equal scores (a hash of the item id with this seed).
    X_labelled : array or sparse matrix, optional
        Features of labelled items: diverse margin starts its spread from them.
    engine : {"stream", "dask"}
        One process partition by partition, or Dask.
    scheduler : str, optional
        A Dask scheduler address; default ``$DASK_SCHEDULER_ADDRESS``, else a local
        cluster of ``n_workers`` processes on 127.0.0.1, closed when the query ends.
    n_workers : int
        Worker processes of the local cluster (one thread each).
    client : distributed.Client, optional
        A connected Dask client to run on (its cluster stays up); overrides ``scheduler``.
    exclude : collection of str, optional
        Item ids never to pick (labelled, queued). Each partition drops them before
        its cut (on the workers, with Dask), so they never crowd the picks out.
    on_partition : callable, optional
        Called with each finished partition's row count (progress).

    Returns
    -------
    StreamQuery
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if n <= 0:
        raise ValueError(f"cannot pick {n} items")
    k = candidate_count(n, strategy)
    excluded = frozenset(str(i) for i in exclude or ())
    keep_features = strategy == "diverse_margin"
    partitions = list(pool.partitions)
    started = time.perf_counter()
    # A running merge: memory is the best k so far plus one partition's cut.
    best: Candidates | None = None
    n_scored = 0
    partition_seconds: list[float] = []

    def take(found: Candidates, seconds: float) -> None:
        nonlocal best, n_scored
        best = found if best is None else merge_candidates([best, found], k)
        n_scored += found.n_scored
        partition_seconds.append(seconds)
        if on_partition is not None:
            on_partition(found.n_scored)

    if engine == "stream":
        for partition in partitions:
            take(*_partition_task(pool, partition, model, k, seed, keep_features, 2, excluded))
    else:
        _run_on_dask(
            (pool, model, excluded),
            partitions,
            (k, seed, keep_features),
            client or scheduler,
            n_workers,
            take,
        )
    if best is None or best.ids.size < n:
        have = 0 if best is None else best.ids.size
        raise ValueError(f"the pool has {have} items to pick from; asked for {n}")
    ids, scores = _finish(best, n, strategy, X_labelled, seed)
    return StreamQuery(
        ids,
        np.asarray(scores, dtype=np.float64),
        n_scored=n_scored,
        n_partitions=len(partitions),
        seconds=time.perf_counter() - started,
        partition_seconds=partition_seconds,
    )


def local_cluster(n_workers: int = 2) -> Any:
    """Start a Dask cluster of ``n_workers`` processes (one thread each) on 127.0.0.1.

    No dashboard, and Dask's own log lines stay quiet. Close it when done.

    Parameters
    ----------
    n_workers : int
        Worker processes.

    Returns
    -------
    distributed.LocalCluster
    """
    try:
        from distributed import LocalCluster
    except ImportError as error:  # pragma: no cover - the extra is part of make setup
        raise ImportError(
            "the dask engine needs labelloop's 'scale' extra: pip install 'labelloop[scale]'"
        ) from error
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False},
        worker_dashboard_address=None,
        silence_logs=logging.ERROR,
    )


def _run_on_dask(
    shared: tuple[PartitionedPool, ProbabilisticClassifier, frozenset[str]],
    partitions: list[Any],
    settings: tuple[int, int, bool],
    target: Any,
    n_workers: int,
    take: Callable[[Candidates, float], None],
) -> None:
    from distributed import Client, as_completed

    k, seed, keep_features = settings
    cluster = None
    client = target if isinstance(target, Client) else None
    futures: list[Any] = []
    try:
        if client is None:
            address = target or os.environ.get("DASK_SCHEDULER_ADDRESS")
            if address is None:
                cluster = local_cluster(n_workers)
            client = Client(cluster if cluster is not None else address)
        # The pool, the model and the excluded ids go to every worker once.
        pool, model, excluded = client.scatter(list(shared), broadcast=True)
        futures = [
            client.submit(
                _partition_task, pool, p, model, k, seed, keep_features, 1, excluded, pure=False
            )
            for p in partitions
        ]
        for future in as_completed(futures):
            take(*future.result())
            future.release()
    finally:
        if client is not None and futures:
            client.cancel(futures)
        if client is not None and client is not target:
            client.close()
        if cluster is not None:
            cluster.close()

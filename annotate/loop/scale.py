"""A partitioned pool in a project: a small working set in memory, the rest streamed.

A pool given as a directory or glob of Parquet files may be past memory, so a project
never loads it whole. It holds a *working set*: the rows of the items the project has
met (pushed, queued or labelled items, the stop set, the next evaluation items). The
cycle trains, evaluates and packages on the working set exactly as on an in-memory
pool; the batch is picked by streaming the whole pool
(:func:`~labelloop.learners.stream_query`, one row group at a time or on Dask), and
the picks join the working set.

What grows with the pool stays out of the state: digests of payloads are kept for the
items people saw or will see, not for every item; a row nobody was shown may change
freely, while a changed row somebody labelled is refused as on any pool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.annotate.config.schema import ProjectConfig, build_estimator
from labelloop.annotate.errors import ConfigError
from labelloop.annotate.loop.data_change import (
    Accepted,
    compare,
    item_fingerprints,
    refuse_unaccepted,
)
from labelloop.annotate.state.store import StateStore
from labelloop.datasets import FeatureMatrix, ParquetPool, Pool, is_partitioned_source

log = logging.getLogger("labelloop")

__all__ = [
    "STREAMING_STRATEGIES",
    "accept_partitioned",
    "check_rule_columns",
    "WorkingSet",
    "check_streamable",
    "is_partitioned",
    "met_items",
    "next_evaluation",
    "open_source",
    "open_working_set",
    "routes_of_picks",
    "rule_columns",
    "stop_items",
]

STREAMING_STRATEGIES = ("margin", "diverse_margin")
MAX_EVALUATION = 10_000  # evaluation items a partitioned pool's project may draw
COLD_START_SAMPLE = 2_000  # rows drawn at random for the first batch's cold start
_MOMENTS_KEY = "source_moments"
_ITEMS_KEY = "source_items"
_CHECKED_KEY = "source_ids_checked"  # the files' signature when their ids were found unique


def is_partitioned(config: ProjectConfig) -> bool:
    """Whether the config's pool is a directory or glob of Parquet files."""
    source = config.data.source
    return not source.startswith("bundled:") and is_partitioned_source(config.data_path())


def refuse_in_memory_columns(config: ProjectConfig, where: str) -> None:
    """Refuse, in one line, column settings a pool streamed as numbers cannot honour.

    Raises
    ------
    ConfigError
        For ``data.missing_numbers`` (gaps filled by the whole pool's median) or
        ``data.categorical_columns``; ``where`` says which pool, and why it streams.
    """
    if config.data.missing_numbers != "refuse":
        raise ConfigError(
            f"data.missing_numbers: {where}; a gap is filled by the whole pool's median, "
            "which needs the pool in memory (fill gaps in the files)"
        )
    if config.data.categorical_columns:
        raise ConfigError(
            f"data.categorical_columns: {where}; categories need the whole pool in memory "
            "(encode them as 0/1 columns in the files)"
        )


def check_streamable(config: ProjectConfig) -> None:
    """Refuse, in one line, what a partitioned pool cannot do (yet).

    Raises
    ------
    ConfigError
        Naming the setting: an adopted project, a strategy that cannot stream, a
        featurizer that needs the whole pool, or no id column.
    """
    where = f"data.source {config.data.source} is partitioned"
    if config.data.id_column is None:
        raise ConfigError(f"data.id_column: {where}; name its id column")
    if config.label_studio is not None:
        raise ConfigError(
            f"label_studio: an adopted project cannot have a partitioned pool ({where})"
        )
    if config.strategy not in STREAMING_STRATEGIES:
        raise ConfigError(
            f"strategy: {config.strategy} cannot stream a partitioned pool; use "
            f"{' or '.join(STREAMING_STRATEGIES)}"
        )
    kind = config.featurizer.kind
    if config.data.text_column is not None and kind not in ("hashing", "embeddings"):
        raise ConfigError(
            f"featurizer.kind: {kind} needs the whole pool in memory; a partitioned text "
            "pool uses hashing or embeddings"
        )
    refuse_in_memory_columns(config, where)
    if config.data.text_column is None and kind != "numeric":
        raise ConfigError(f"featurizer.kind: {kind}; a partitioned pool of numbers uses numeric")
    check_rule_columns(config)


@dataclass
class WorkingSet:
    """The rows of a partitioned pool that a project holds, and their features.

    Attributes
    ----------
    source : ParquetPool
        The whole pool, read partition by partition (with its feature moments).
    pool : Pool
        The working set's rows (ids, payload columns, gold labels if any).
    X : FeatureMatrix
        The working set's features, computed as the streaming scorer computes them.
    added : int
        Items that joined the pool's files since the project last opened them.
    """

    config: ProjectConfig
    state: StateStore
    source: ParquetPool
    pool: Pool
    X: FeatureMatrix
    added: int = 0
    signature: str = ""  # of the files when opened

    def stale(self) -> bool:
        """Whether files were added, removed or rewritten since the pool was opened."""
        from labelloop.datasets import parquet_files

        try:
            listed = [str(p) for p in parquet_files(self.config.data_path())]
        except Exception:  # the folder itself went away: reopening says so in one line
            return True
        if listed != list(self.source.files):
            return True
        return self.source.signature() != self.signature

    def refresh(self) -> None:
        """Read the rows of items the project came to hold since (the next evaluation ones)."""
        met = met_items(self.state)
        wanted = met | next_evaluation(self.config, self.state, met) | stop_items(self.state)
        self.grow(sorted(wanted), met=met)

    def grow(self, ids: list[str], met: set[str] | None = None) -> None:
        """Read some items' rows into the working set, recording their digests.

        Only the digests of ``met`` items are recorded when given (else of all); an
        item already in the working set (the stop set) gets its digest when met.
        """
        import pandas as pd

        ids = list(dict.fromkeys(ids))
        have = set(self.pool.ids.tolist())
        new = [i for i in ids if i not in have]
        if new:
            rows = _read_pool(self.config, self.source, new)
            if len(rows) != len(new):
                missing = sorted(set(new) - set(rows.ids.tolist()))
                raise ConfigError(f"{self.config.data.source}: item {missing[0]!r} is gone")
            self.pool = _as_pool(self.config, pd.concat([self.pool.frame, rows.frame]))
            self.X = _features(self.config, self.pool, self.source)
        stored = self.state.fingerprints()
        unrecorded = [i for i in ids if i not in stored and (met is None or i in met)]
        if unrecorded:
            pool = self.pool
            subset = Pool(
                pool.frame.loc[unrecorded],
                text_column=pool.text_column,
                feature_columns=pool.feature_columns,
                label_column=pool.label_column,
                source=pool.source,
            )
            self.state.keep_fingerprints(item_fingerprints(subset))


def open_working_set(
    config: ProjectConfig, state: StateStore, config_file: Path | None = None
) -> WorkingSet:
    """Open a partitioned pool and read the rows the project holds.

    On a project's first open the evaluation set and the stop set are drawn over the
    whole pool (their ids read by position). Then the held items' rows are read in one
    filtered pass and their payloads compared with the digests kept when people first
    met them.

    Raises
    ------
    DataChangedError
        An item people met changed or went away since it was accepted.
    ConfigError, DataError
        A setting a partitioned pool cannot take; a file or column that is wrong.
    """
    check_streamable(config)
    source = open_source(config, cache_dir=partition_cache(state))
    signature = source.signature()
    source = _with_moments(config, state, _checked(state, source, signature), signature)
    _draw_sets(config, state, source)
    met = met_items(state)
    wanted = met | next_evaluation(config, state, met) | stop_items(state)
    pool = _read_pool(config, source, sorted(wanted))
    stored = state.fingerprints()
    # Evaluation or stop-set items that left the files before anyone saw them leave
    # those sets; items people saw are refused below until someone accepts.
    unshown = wanted - set(pool.ids.tolist()) - set(stored)
    if unshown:
        state.forget_unshown(unshown)
        met -= unshown
    current = {i: d for i, d in item_fingerprints(pool).items() if i in met}
    change = compare(stored, current)
    refuse_unaccepted(change, config, config_file)
    if change.added:
        state.keep_fingerprints({i: current[i] for i in change.added})
    known = state.get_meta(_ITEMS_KEY)
    added = max(source.n_items - int(known), 0) if known is not None else 0
    if known is None or int(known) != source.n_items:
        state.set_meta(_ITEMS_KEY, str(source.n_items))
    X = _features(config, pool, source)
    return WorkingSet(config, state, source, pool, X, added, signature)


def open_source(config: ProjectConfig, cache_dir: Path | None = None) -> ParquetPool:
    """Open the config's partitioned pool (every file's footer checked).

    With embeddings, each row group's embeddings are cached in ``cache_dir``.
    """
    data = config.data
    source = ParquetPool.open(
        config.data_path(),
        id_column=str(data.id_column),
        feature_columns=data.feature_columns,
        text_column=data.text_column,
        label_column=data.label_column,
    )
    if data.text_column is not None and config.featurizer.kind == "embeddings":
        cache = str(cache_dir) if cache_dir is not None else None
        return replace(source, text_features="embeddings", cache_dir=cache)
    return source


def partition_cache(state: StateStore) -> Path:
    """Return the folder of per-row-group embeddings, beside the feature cache."""
    from labelloop.annotate.loop.features import default_cache_dir

    return default_cache_dir(state.path.parents[2]) / "partitions"


def accept_partitioned(config: ProjectConfig, state: StateStore) -> Accepted:
    """Accept a partitioned pool's changed files: changed items met go back to people.

    Only the items people met have digests, so only they are compared (one filtered
    pass); items nobody met join or change freely and are never reported.
    """
    stored = state.fingerprints()
    pool = _read_pool(config, open_source(config), sorted(stored))
    current = item_fingerprints(pool)
    change = compare(stored, current)
    retired = state.accept_data(current, changed=change.changed, removed=change.removed)
    return Accepted(change, retired)


def met_items(state: StateStore) -> set[str]:
    """Return the items people met: pushed, queued or labelled. Their digests are kept."""
    return set(state.fingerprints()) | state.queued_item_ids() | set(state.resolutions())


def next_evaluation(config: ProjectConfig, state: StateStore, met: set[str]) -> set[str]:
    """Return the evaluation items the next batch will carry (read, not yet met)."""
    per_batch = config.evaluation.per_batch or config.batch_size
    return set([i for i in state.eval_order() if i not in met][:per_batch])


def stop_items(state: StateStore) -> set[str]:
    """Return the stop set's items (read to watch predictions, never shown)."""
    stop = state.get_meta("stop_set")
    return set(json.loads(stop)) if stop is not None else set()


def pick_streamed(
    working: WorkingSet,
    model: Any,
    n: int,
    *,
    exclude: set[str],
    X_labelled: FeatureMatrix | None,
    seed: int,
    share: float = 0.0,
) -> tuple[list[str], list[float], str]:
    """Pick ``n`` items of the whole pool (the caller takes them into the working set).

    With a model, the pool is streamed and scored (the config's strategy and engine),
    and a ``share`` of the batch (the config's ``exploration``, see
    :func:`~annotate.loop.project.exploration_share`) is drawn at random from the whole
    pool (:func:`random_ids`), last and scored NaN.
    Before one exists, the config's cold start runs on a random sample of
    :data:`COLD_START_SAMPLE` rows.

    Returns
    -------
    (ids, scores, strategy name)
    """
    config = working.config
    if model is None:
        ids, scores, name = _cold_start(working, n, exclude=exclude, seed=seed)
    else:
        from labelloop.learners import get_strategy

        scoring = config.scoring
        share = share if get_strategy(config.strategy).needs_model else 0.0
        scored = partial(
            stream_pick,
            working.source,
            model,
            strategy=config.strategy,
            seed=seed,
            X_labelled=X_labelled if config.strategy == "diverse_margin" else None,
            engine=scoring.engine,
            scheduler=scoring.scheduler,
            n_workers=scoring.workers,
            exclude=exclude,
        )
        rng = np.random.default_rng([seed, 5])
        ids, scores = with_random_share(working.source, n, share, scored, exclude, rng)
        name = config.strategy
    return ids, scores, name


def stream_pick(source: Any, model: Any, n: int, **options: Any) -> tuple[list[str], list[float]]:
    """Return :func:`~learners.stream_query`'s picks as ids and scores (``options`` its own)."""
    from labelloop.learners import stream_query

    query = stream_query(source, model, n, **options)
    return [str(i) for i in query.ids], [float(s) for s in query.scores]


def with_random_share(
    source: Any,
    n: int,
    share: float,
    pick: Callable[[int], tuple[list[str], list[float]]],
    exclude: set[str],
    rng: np.random.Generator,
) -> tuple[list[str], list[float]]:
    """Pick a batch of ``n`` from a partitioned pool: ``pick``'s items, then a random share.

    Parameters
    ----------
    source : ParquetPool
        The pool.
    n : int
        Batch size.
    share : float
        Share of the batch drawn at random (:func:`~learners.exploration_count`).
    pick : callable
        ``k -> (ids, scores)``: the strategy's best ``k`` items; not called for ``k = 0``.
    exclude : set of str
        Ids neither may return.
    rng : numpy.random.Generator
        Draws the rounding of the share, then the random ids.

    Returns
    -------
    (ids, scores)
        The random ids come last, scored NaN (not chosen by the strategy).
    """
    from labelloop.learners import exploration_count

    explored = exploration_count(n, share, rng)
    ids, scores = pick(n - explored) if n > explored else ([], [])
    drawn = [str(i) for i in random_ids(source, explored, exclude | set(ids), rng)]
    return ids + drawn, scores + [float("nan")] * len(drawn)


def random_ids(source: Any, n: int, exclude: set[str], rng: np.random.Generator) -> list[str]:
    """Up to ``n`` distinct ids drawn uniformly from a partitioned pool, none of ``exclude``.

    Draws enough positions that, at the pool's share of excluded ids, ``n`` are expected
    to be left, doubling the draw while too few are; only the drawn rows' ids are read.

    Parameters
    ----------
    source : ParquetPool
        The pool.
    n : int
        How many ids.
    exclude : set of str
        Ids never returned (labelled, queued, evaluation).
    rng : numpy.random.Generator
        The draws.

    Returns
    -------
    list of str
        In random order; fewer than ``n`` only when fewer are left.
    """
    n = min(n, source.n_items - len(exclude))
    if n <= 0:
        return []
    left = max(source.n_items - len(exclude), 1)
    size = min(source.n_items, int(np.ceil((n + 16) * source.n_items / left)))
    while True:
        positions = np.sort(rng.choice(source.n_items, size=size, replace=False))
        found = [i for i in source.ids_at(positions) if i not in exclude]
        if len(found) >= n or size == source.n_items:
            break
        size = min(source.n_items, 2 * size)
    order = rng.permutation(len(found))[:n]
    return [found[k] for k in order]


def _cold_start(
    working: WorkingSet, n: int, *, exclude: set[str], seed: int
) -> tuple[list[str], list[float], str]:
    """Run the config's cold start on a random sample of the pool."""
    from labelloop.learners import PoolLearner

    source, config = working.source, working.config
    rng = np.random.default_rng(seed)
    size = min(source.n_items, max(COLD_START_SAMPLE, 20 * n) + len(exclude))
    positions = np.sort(rng.choice(source.n_items, size=size, replace=False))
    drawn = [i for i in source.ids_at(positions) if i not in exclude]
    sample = _read_pool(config, source, drawn)
    X = _features(config, sample, source)
    learner = PoolLearner(
        build_estimator(config.model),
        X,
        sample.ids,
        strategy=config.strategy,
        cold_start=config.cold_start,
        random_state=seed,
    )
    query = learner.query(min(n, len(sample)))
    return list(query.ids), list(query.scores), query.strategy


def _checked(state: StateStore, source: ParquetPool, signature: str) -> ParquetPool:
    """Check the pool's ids are unique, once per version of its files (``signature``)."""
    if state.get_meta(_CHECKED_KEY) != signature:
        source.check_unique_ids()
        state.set_meta(_CHECKED_KEY, signature)
    return source


def _with_moments(
    config: ProjectConfig, state: StateStore, source: ParquetPool, signature: str
) -> ParquetPool:
    """Standardize numeric features by the whole pool's moments, measured once per files.

    The moments are kept in the state with a signature of the files; files added or
    rewritten measure them anew (and the last model, fitted on the old scale, is not
    kept).
    """
    if not source.feature_columns or not config.featurizer.scale:
        return source
    kept = json.loads(state.get_meta(_MOMENTS_KEY) or "null")
    if kept is not None and kept["signature"] == signature:
        return replace(source, mean=tuple(kept["mean"]), scale=tuple(kept["scale"]))
    measured = source.feature_moments()
    moments = {"signature": signature, "mean": measured.mean, "scale": measured.scale}
    with state.transaction() as db:
        if kept is not None:
            db.execute("DELETE FROM meta WHERE key = 'last_model'")
        state.set_meta(_MOMENTS_KEY, json.dumps(moments), db)
    return measured


def _draw_sets(config: ProjectConfig, state: StateStore, source: ParquetPool) -> None:
    """Draw the evaluation set and the stop set over the whole pool, once."""
    # The same draws as an in-memory pool's (annotate.loop.stopping), over every row.
    from labelloop.learners import draw_evaluation_set, draw_stop_set

    if not state.eval_items():
        check_evaluation_size(config, source.n_items)
        positions = draw_evaluation_set(source.n_items, config.evaluation.size, config.seed)
        state.set_eval_items(source.ids_at(positions))
    if state.get_meta("stop_set") is None:
        positions = draw_stop_set(source.n_items, config.stopping.stop_set_size, config.seed)
        state.set_meta("stop_set", json.dumps(source.ids_at(positions)))


def check_evaluation_size(config: ProjectConfig, n_items: int) -> None:
    """Refuse an evaluation set of a partitioned pool past :data:`MAX_EVALUATION` items.

    Raises
    ------
    ConfigError
        ``evaluation.size: 0.2 is 2,000,000 of 10,000,000 items; give a count of at
        most 10,000 for a partitioned pool (it is held in memory)``.
    """
    size = config.evaluation.size
    count = round(size * n_items) if size < 1 else int(size)
    if count > MAX_EVALUATION:
        raise ConfigError(
            f"evaluation.size: {size:g} is {count:,} of {n_items:,} items; give a count of "
            f"at most {MAX_EVALUATION:,} for a partitioned pool (it is held in memory)"
        )


def _read_pool(config: ProjectConfig, source: ParquetPool, ids: list[str]) -> Pool:
    """Read some items' rows as a checked pool (blank texts, bad values refused).

    Gold labels are left out: a cycle learns from people's labels only.
    """
    columns = [*source.feature_columns]
    if source.text_column is not None:
        columns.append(source.text_column)
    columns += [c for c in rule_columns(config) if c not in columns]
    return _as_pool(config, source.rows(ids, columns))


def rule_columns(config: ProjectConfig) -> list[str]:
    """Return the columns routing's always-human rules read (none without routing)."""
    if not config.routing.enabled:
        return []
    return sorted({rule.column for rule in config.routing.always_human})


def check_rule_columns(config: ProjectConfig) -> None:
    """Refuse a routing rule on a column the files do not have, naming it.

    Raises
    ------
    ConfigError
        ``routing.always_human.K.column: 'c' is not a column of SOURCE (columns: ...)``.
    """
    if not config.routing.enabled or not config.routing.always_human:
        return
    import pyarrow.parquet as pq

    from labelloop.datasets import parquet_files

    names = pq.ParquetFile(parquet_files(config.data_path())[0]).schema_arrow.names
    for k, rule in enumerate(config.routing.always_human if config.routing.enabled else ()):
        if rule.column not in names:
            raise ConfigError(
                f"routing.always_human.{k}.column: {rule.column!r} is not a column of "
                f"{config.data.source} (columns: {', '.join(names)})"
            )


def _as_pool(config: ProjectConfig, frame: Any) -> Pool:
    from labelloop.datasets import pool_from_frame

    data = config.data
    frame = frame.drop(columns=[str(data.id_column)], errors="ignore")
    frame.insert(0, str(data.id_column), frame.index.astype(str))
    return pool_from_frame(
        frame.reset_index(drop=True),
        source=data.source,
        id_column=data.id_column,
        text_column=data.text_column,
        feature_columns=data.feature_columns,
    )


def _features(config: ProjectConfig, pool: Pool, source: ParquetPool) -> FeatureMatrix:
    """Return the pool's features as the streaming scorer computes them."""
    if source.text_features != "embeddings":
        from labelloop.annotate.loop.features import project_features

        return project_features(config, pool, source=source)
    # Embeddings come from the per-row-group cache (the first open embeds the pool once).
    embed_uncached(source)
    found, X = source.features_of(pool.ids.tolist())
    where = {item: k for k, item in enumerate(found)}
    ordered: FeatureMatrix = X[[where[i] for i in pool.ids.tolist()]]
    return ordered


def embed_uncached(source: ParquetPool) -> None:
    """Embed and cache every row group not cached yet, with a progress bar on stderr.

    Parameters
    ----------
    source : ParquetPool
        A text pool with embedding features (anything else returns at once).
    """
    if source.text_features != "embeddings" or source.cache_dir is None:
        return  # nothing to keep: features_of embeds the row groups it reads
    uncached = [p for p in source.partitions if not _cached(source, p)]
    if not uncached:
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(
            f"embedding {len(uncached)} row group(s), cached once", total=len(uncached)
        )
        for partition in uncached:
            source.load(partition)
            bar.advance(task)


def _cached(source: ParquetPool, partition: tuple[int, int]) -> bool:
    target = source.embedding_file(partition)
    return target is not None and target.is_file()


def routes_of_picks(
    config: ProjectConfig,
    state: StateStore,
    labels: list[str],
    pool: Pool,
    X: FeatureMatrix,
    model: Any,
    ids: list[str],
) -> dict[str, str]:
    """Route picked items with the thresholds of the last routing (``review``/``human``).

    A partitioned pool stores only machine labels' routes: a batch's items get theirs
    here, from the same thresholds, rules and model, so annotators see a guess exactly
    where the route says so.
    """
    from labelloop.annotate.config.rules import route_by_config
    from labelloop.learners import ClassThreshold, aligned_proba

    summary = state.routing_summary()
    if summary is None or not ids:
        return {}
    thresholds = {k: ClassThreshold(**v) for k, v in summary["thresholds"].items()}
    rows = pool.positions(ids)
    routed = route_by_config(
        config.routing,
        aligned_proba(model, X[rows], labels),
        labels,
        thresholds,
        pool.frame.iloc[rows],
        auto_allowed=False,  # a picked item goes to people whatever its confidence
    )
    return {str(i): str(r) for i, r in zip(ids, routed.routes, strict=True)}

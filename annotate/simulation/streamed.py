"""`labelloop simulate` on a partitioned pool memory cannot hold: every step streams it.

The pool is never loaded whole. Each run keeps its labelled rows, the evaluation set and
the stop set in memory, and reads two samples (the cold start's and the ceiling's, at
most 20,000 rows); each step scores the whole pool with the streaming scorer (the
config's engine), exactly as ``labelloop cycle`` picks a batch from such a pool, and
reads the picks' rows and gold labels by id. Time is one pass over the pool per step.

What differs from the in-memory simulation, and is said in the output:

- the cold start (k-means) runs on a random sample of :data:`COLD_START_SAMPLE` rows, as
  the live loop's does on such a pool;
- the full-pool ceiling is the model trained on a random sample of at most
  :data:`CEILING_SAMPLE` non-evaluation rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.annotate.config.schema import ProjectConfig, build_estimator
from labelloop.annotate.errors import ConfigError
from labelloop.annotate.simulation.curves import (
    SimulationProgress,
    SimulationReport,
    expected_steps,
    summarize_runs,
)
from labelloop.datasets import LabelError

__all__ = [
    "CEILING_SAMPLE",
    "STREAMED_STRATEGIES",
    "StreamedPool",
    "check_streamed",
    "open_streamed",
    "run_streamed_simulations",
]

#: Strategies a streamed simulation runs: the streaming scorer's, and the baseline.
STREAMED_STRATEGIES = ("margin", "diverse_margin", "random")
#: Rows (at most) the full-pool ceiling is trained on.
CEILING_SAMPLE = 20_000


def check_streamed(config: ProjectConfig, strategies: Sequence[str]) -> None:
    """Refuse, in one line, what a streamed simulation cannot run.

    Raises
    ------
    ConfigError
        A strategy other than margin, diverse margin and random; TF-IDF features; no id
        column; columns of categories.
    LabelError
        No label column.
    """
    source = config.data.source
    for name in strategies:
        if name not in STREAMED_STRATEGIES:
            raise ConfigError(
                f"--strategies: {name!r} cannot stream {source}; a streamed simulation runs "
                f"{', '.join(STREAMED_STRATEGIES)}"
            )
    if config.data.id_column is None:
        raise ConfigError(f"data.id_column: {source} is streamed by id; name its id column")
    from labelloop.annotate.loop.scale import refuse_in_memory_columns

    refuse_in_memory_columns(config, f"{source} is streamed")
    if config.data.text_column is not None and config.featurizer.kind == "tfidf":
        raise ConfigError(
            f"featurizer.kind: tfidf needs {source} in memory; use hashing or embeddings"
        )
    if config.data.label_column is None:
        raise LabelError(
            f"{source}: simulation needs a gold label for every item; data.label_column is not set"
        )


@dataclass(frozen=True)
class StreamedPool:
    """A partitioned pool checked for a streamed simulation.

    Attributes
    ----------
    source : ParquetPool
        The files, with the whole pool's moments for numeric features.
    classes : list of str
        Every gold label in the files, sorted.
    """

    source: Any
    classes: list[str]


def open_streamed(
    config: ProjectConfig, strategies: Sequence[str], cache_dir: Path | None = None
) -> StreamedPool:
    """Check what a streamed simulation needs, before any output.

    A pass over the id column (ids unique), one over the label column (every item
    labelled, at least 2 classes) and, for scaled numeric features, one over the features
    (the whole pool's mean and scale). Blank texts and values that are not finite
    numbers are refused when a row is read.

    Parameters
    ----------
    config : ProjectConfig
        A project on a directory or glob of Parquet files with a label column.
    strategies : sequence of str
        The strategies to run.
    cache_dir : Path, optional
        Where per-row-group embeddings are cached (embedding features only); by default
        ``partitions/`` in the feature cache.

    Returns
    -------
    StreamedPool

    Raises
    ------
    ConfigError, LabelError, DataFileError
        One line each: see :func:`check_streamed`; an item with no gold label is named,
        as is an id found twice.
    """
    from labelloop.annotate.loop.scale import (
        check_evaluation_size,
        embed_uncached,
        open_source,
    )
    from labelloop.datasets._loaders import _label_text

    check_streamed(config, strategies)
    if cache_dir is None:
        from labelloop.annotate.loop.features import default_cache_dir

        cache_dir = default_cache_dir() / "partitions"
    source = open_source(config, cache_dir)
    check_evaluation_size(config, source.n_items)
    source.check_unique_ids()
    label = str(config.data.label_column)
    classes: set[str] = set()
    for partition in source.partitions:
        table = source.read(partition, [source.id_column, label]).to_pandas()
        path = source.files[partition[0]]
        values = table[label]
        # Each distinct value once (a row group holds a handful of classes, not 250,000).
        for value in values.dropna().unique().tolist() + ([None] if values.isna().any() else []):
            row = int(np.flatnonzero(values.isna() if value is None else values == value)[0])
            item = str(table[source.id_column].iloc[row])
            text = _label_text(value, path, label, item, row)
            if text is None:
                raise LabelError(
                    f"{path}: simulation needs a gold label for every item; item {item!r} "
                    f"has none in column {label!r}"
                )
            classes.add(text)
    if len(classes) < 2:
        raise LabelError(
            f"{config.data.source}: label column {label!r} holds {len(classes)} class(es); "
            "a simulation needs at least 2"
        )
    if source.feature_columns and config.featurizer.scale:
        source = source.feature_moments()
    embed_uncached(source)  # here, before the simulation's own progress bar
    return StreamedPool(source, sorted(classes))


@dataclass
class _Sets:
    """One seed's fixed rows, read once for all its strategies.

    The evaluation rows and labels, the stop-set rows, and the cold start's sample
    (drawn outside the evaluation set).
    """

    eval_ids: set[str]
    X_eval: Any
    y_eval: list[str]
    X_stop: Any
    sample: list[str]
    X_sample: Any


def run_streamed_simulations(
    config: ProjectConfig,
    strategies: Sequence[str],
    seeds: Sequence[int],
    *,
    pool: StreamedPool | None = None,
    progress: SimulationProgress | None = None,
    cache_dir: Path | None = None,
) -> SimulationReport:
    """Simulate each strategy under each seed, streaming the pool at every step.

    Parameters
    ----------
    config : ProjectConfig
        A project whose ``data.source`` is a directory or glob of Parquet files with a
        label column.
    strategies : sequence of str
        Among :data:`STREAMED_STRATEGIES`.
    seeds : sequence of int
        One run per strategy and seed; runs of one seed share the evaluation set, the
        stop set, the ceiling and the cold start's sample.
    pool : StreamedPool, optional
        The pool :func:`open_streamed` checked; opened and checked here if not given.
    progress : SimulationProgress, optional
        Told the number of steps, each run and each step.
    cache_dir : Path, optional
        Where per-row-group embeddings are cached (embedding features only).

    Returns
    -------
    SimulationReport
        As :func:`~annotate.simulation.curves.run_simulations` returns it.

    Raises
    ------
    ConfigError, LabelError, DataFileError
        See :func:`open_streamed`.
    """
    from labelloop.annotate.loop.scale import COLD_START_SAMPLE, random_ids
    from labelloop.learners import draw_evaluation_set, draw_stop_set

    if pool is None:
        pool = open_streamed(config, strategies, cache_dir)
    source, classes = pool.source, pool.classes
    n_items = source.n_items
    size = config.evaluation.size
    n_eval = draw_evaluation_set(n_items, size, seeds[0]).size
    budget = min(config.budget, n_items - n_eval)
    initial = config.initial_size or config.batch_size
    if progress is not None:
        per_run = expected_steps(n_items - n_eval, config.budget, initial, config.batch_size)
        progress.start(per_run * len(strategies) * len(seeds))
    scored = any(name != "random" for name in strategies)
    client, cluster = _dask_client(config) if scored else (None, None)
    runs = []
    ceilings: dict[int, float] = {}
    ceilings_f1: dict[int, float] = {}
    try:
        for seed in seeds:
            eval_ids = source.ids_at(np.sort(draw_evaluation_set(n_items, size, seed)))
            stop_ids = source.ids_at(draw_stop_set(n_items, config.stopping.stop_set_size, seed))
            X_eval, y_eval = _labelled_rows(config, source, eval_ids)
            X_stop, _ = _labelled_rows(config, source, stop_ids)
            drawn = max(COLD_START_SAMPLE, 20 * initial)  # as cycle draws it
            sample = random_ids(source, drawn, set(eval_ids), np.random.default_rng(seed))
            X_sample, _ = _labelled_rows(config, source, sample)
            sets = _Sets(set(eval_ids), X_eval, y_eval, X_stop, sample, X_sample)
            ceiling = _ceiling(config, source, sets, classes, seed)
            ceilings[seed], ceilings_f1[seed] = ceiling.accuracy, ceiling.macro_f1
            for name in strategies:
                if progress is not None:
                    progress.run(name, seed)
                runs.append(
                    _run(config, source, sets, classes, name, seed, budget, progress, client)
                )
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return SimulationReport(
        config_name=config.name,
        n_items=n_items,
        n_eval=n_eval,
        batch_size=config.batch_size,
        budget=budget,
        runs=runs,
        full_pool_accuracy=ceilings,
        summary=summarize_runs(runs, ceilings, list(strategies)),
        full_pool_macro_f1=ceilings_f1,
        exploration=config.exploration,
    )


def _labelled_rows(config: ProjectConfig, source: Any, ids: Sequence[str]) -> tuple[Any, list[str]]:
    """Features and gold labels of some items, in the order of ``ids``."""
    from labelloop.annotate.loop.scale import _as_pool, _features
    from labelloop.datasets._loaders import _label_text

    label = str(config.data.label_column)
    columns = [*source.feature_columns]
    if source.text_column is not None:
        columns.append(source.text_column)
    frame = source.rows(list(ids), [*columns, label]).loc[list(ids)]
    labels = [  # every one present and valid: open_streamed checked them all
        str(_label_text(value, str(config.data.source), label, str(item), row))
        for row, (item, value) in enumerate(frame.pop(label).items())
    ]
    pool = _as_pool(config, frame)
    return _features(config, pool, source), labels


def _ceiling(config: ProjectConfig, source: Any, sets: _Sets, classes: list[str], seed: int) -> Any:
    """Metrics of the model trained on a random sample of non-evaluation rows."""
    from sklearn.base import clone

    from labelloop.annotate.loop.scale import random_ids
    from labelloop.learners import evaluate

    ids = random_ids(source, CEILING_SAMPLE, sets.eval_ids, np.random.default_rng([seed, 7]))
    X, y = _labelled_rows(config, source, ids)
    model = clone(build_estimator(config.model)).fit(X, y)
    return evaluate(model, sets.X_eval, sets.y_eval, classes)


def _run(
    config: ProjectConfig,
    source: Any,
    sets: _Sets,
    classes: list[str],
    strategy: str,
    seed: int,
    budget: int,
    progress: SimulationProgress | None,
    client: Any,
) -> Any:
    """One strategy under one seed: pick, read the gold labels, retrain, evaluate."""
    from scipy import sparse
    from sklearn.base import clone

    from labelloop.annotate.loop.scale import random_ids, stream_pick, with_random_share
    from labelloop.annotate.loop.stopping import stopping_criterion
    from labelloop.learners import (
        CurvePoint,
        EvaluationShare,
        PoolLearner,
        SimulationRun,
        evaluate,
        get_strategy,
    )

    estimator = build_estimator(config.model)
    stopping = stopping_criterion(config)
    run = SimulationRun(strategy=strategy, seed=seed)
    rng = np.random.default_rng([seed, 2])
    y_eval = np.asarray(sets.y_eval, dtype=object)
    explore = EvaluationShare(config.exploration, sets.X_eval, y_eval, np.arange(y_eval.size), seed)
    per_batch = config.evaluation.per_batch or config.batch_size
    share = explore.first
    labelled: list[str] = []
    explored = 0  # random picks since the last point
    blocks: list[Any] = []
    y: list[str] = []
    model: Any = None
    X_train: Any = None  # the labelled rows the model was last fitted on
    size = config.initial_size or config.batch_size
    step = 0
    while len(labelled) < budget:
        size = min(size, budget - len(labelled))
        exclude = sets.eval_ids | set(labelled)
        if model is None:  # the cold start, on the seed's sample (the same for every strategy)
            learner = PoolLearner(
                estimator,
                sets.X_sample,
                sets.sample,
                strategy=strategy,
                cold_start=config.cold_start,
                excluded_ids=exclude & set(sets.sample),
                random_state=seed + step,
            )
            if learner.n_unlabelled >= size:
                picks = learner.query(size).ids
            else:  # one class so far in the whole sample: label at random until a second
                picks = random_ids(source, size, exclude, rng)
        elif strategy == "random":
            picks = random_ids(source, size, exclude, rng)
        else:
            scored = partial(
                stream_pick,
                source,
                model,
                strategy=strategy,
                seed=seed * 100_003 + step,
                X_labelled=X_train if strategy == "diverse_margin" else None,
                engine=config.scoring.engine,
                client=client,
                exclude=exclude,
            )
            # As the live pick: a strategy that uses no model (kmeans) is never split.
            split = share if get_strategy(strategy).needs_model else 0.0
            picks, scores = with_random_share(source, size, split, scored, exclude, rng)
            explored += sum(1 for score in scores if np.isnan(score))
        X_new, y_new = _labelled_rows(config, source, picks)
        labelled += picks
        blocks.append(X_new)
        y += y_new
        size = config.batch_size
        step += 1
        if len(set(y)) < 2:  # one class only: no model yet, keep labelling
            continue
        X_train = sparse.vstack(blocks) if sparse.issparse(blocks[0]) else np.vstack(blocks)
        model = clone(estimator).fit(X_train, y)
        metrics = evaluate(model, sets.X_eval, sets.y_eval, classes)
        share = explore.next(model, per_batch * step)
        stop = stopping.update(model, sets.X_stop).stop if stopping is not None else False
        if stop and run.stopped_at is None:
            run.stopped_at = len(labelled)
        point = CurvePoint(
            strategy=strategy,
            seed=seed,
            step=step - 1,
            n_labels=len(labelled),
            accuracy=metrics.accuracy,
            macro_f1=metrics.macro_f1,
            log_loss=metrics.log_loss,
            stop=stop,
            explored=explored,
        )
        explored = 0
        run.points.append(point)
        if progress is not None:
            progress.step(point)
    return run


def _dask_client(config: ProjectConfig) -> tuple[Any, Any]:
    """One Dask client for the whole simulation (a cluster per step would cost seconds)."""
    if config.scoring.engine != "dask":
        return None, None
    import os

    from labelloop.learners import local_cluster

    try:
        from distributed import Client
    except ImportError as error:  # pragma: no cover - the extra is part of make setup
        raise ImportError(
            "the dask engine needs labelloop's 'scale' extra: pip install 'labelloop[scale]'"
        ) from error

    address = config.scoring.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return Client(address), None
    cluster = local_cluster(config.scoring.workers)
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise

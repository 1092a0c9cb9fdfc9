"""`labelloop init`: write a project config from a data file, inferring what it can."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.errors import ConfigError
from labelloop.datasets import (
    ParquetPool,
    Pool,
    column_values,
    is_partitioned_source,
    load_pool,
    pool_from_frame,
    read_table,
    sample_parquet,
)

__all__ = ["Written", "default_settings", "infer_columns", "save_config", "write_config"]

_ID_NAMES = ("id", "item_id", "uid", "key", "doc_id")
SAMPLE_ROWS = 10_000  # rows of a partitioned pool that init reads to infer its columns
PARTITIONED_EVAL = 1_000  # the most evaluation items init draws from a partitioned pool


@dataclass(frozen=True)
class Written:
    """What ``init`` wrote.

    Attributes
    ----------
    path : Path
        The config file.
    pool : Pool
        The pool as loaded; for a partitioned pool, the sample its columns came from.
    n_items : int
        Items in the pool.
    classes : list of str
        The label column's classes (over the whole pool).
    """

    path: Path
    pool: Pool
    n_items: int
    classes: list[str]


def infer_columns(
    frame: pd.DataFrame,
    *,
    label_column: str,
    text_column: str | None = None,
    feature_columns: Sequence[str] = (),
    id_column: str | None = None,
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """Guess the id, text and feature columns that were not given.

    Returns
    -------
    (id_column, text_column, feature_columns)
        An id column is a column named like ``id`` whose values are unique; without a
        text or feature column, the string column with the longest values becomes the
        text, else every numeric column (but id and label) becomes a feature.
    """
    if id_column is None:
        for name in frame.columns:
            if str(name).lower() in _ID_NAMES:  # duplicates are reported by load_pool
                id_column = str(name)
                break
    if text_column is None and not feature_columns:
        reserved = {label_column, id_column}
        numeric = [
            str(c)
            for c in frame.columns
            if c not in reserved and pd.to_numeric(frame[c], errors="coerce").notna().all()
        ]
        text_like = [str(c) for c in frame.columns if c not in reserved and str(c) not in numeric]
        if text_like:
            lengths = {c: frame[c].astype(str).str.len().mean() for c in text_like}
            text_column = max(lengths, key=lambda c: lengths[c])
        elif numeric:
            feature_columns = numeric
    return id_column, text_column, tuple(feature_columns)


def write_config(
    name: str,
    data: Path,
    *,
    label_column: str,
    text_column: str | None = None,
    feature_columns: Sequence[str] = (),
    id_column: str | None = None,
    configs_dir: Path = Path("configs"),
    force: bool = False,
) -> Written:
    """Write ``configs_dir/NAME.yaml`` for a data file, after loading the pool once.

    The pool is loaded with the inferred columns first, so a bad file fails here, with
    the same one-line error the other commands give, and nothing is written.

    A directory or glob of Parquet files is a partitioned pool: columns are inferred
    and checked on a sample of up to 10,000 rows spread over its files, and every
    file's footer is checked for them; its id column must be named or inferred.

    Returns
    -------
    Written
        The config written, the pool (its sample, for a partitioned pool), the number
        of items and the classes.

    Raises
    ------
    ConfigError
        If the config exists already (without ``force``) or nothing could be inferred.
    """
    target = configs_dir / f"{name}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target}: config exists already; pass --force to replace it")
    partitioned = is_partitioned_source(data)
    n_items: int | None = None
    if partitioned:
        # A partitioned pool may be past memory: columns are inferred, and checked, on a
        # sample; every file's columns are checked from its footer when the pool opens.
        frame, n_items = sample_parquet(data, SAMPLE_ROWS)
    else:
        frame = read_table(data)
    if label_column not in frame.columns:
        known = ", ".join(map(str, frame.columns))
        raise ConfigError(f"{data}: label column {label_column!r} not found; columns are: {known}")
    id_column, text_column, feature_columns = infer_columns(
        frame,
        label_column=label_column,
        text_column=text_column,
        feature_columns=feature_columns,
        id_column=id_column,
    )
    if text_column is None and not feature_columns:
        raise ConfigError(f"{data}: found no text or numeric feature column; name one")
    if partitioned:
        if id_column is None:
            raise ConfigError(f"{data}: name the id column (--id-column) of a partitioned pool")
        # Classes come from one pass over the label column, not from the sample, which
        # may miss a class (files sorted by label); the sample's labels are checked only
        # when it holds two classes or more.
        classes = column_values(data, label_column)
        if len(classes) < 2:
            raise ConfigError(
                f"{data}: label column {label_column!r} has {len(classes)} class(es); "
                "need at least 2"
            )
        sample_labels = frame[label_column].dropna().astype(str).str.strip()
        pool = pool_from_frame(
            frame,
            source=str(data),
            id_column=id_column,
            text_column=text_column,
            feature_columns=feature_columns,
            label_column=label_column if sample_labels[sample_labels != ""].nunique() > 1 else None,
        )
        ParquetPool.open(
            data,
            id_column=id_column,
            feature_columns=feature_columns,
            text_column=text_column,
            label_column=label_column,
        )
    else:
        pool = load_pool(
            data,
            id_column=id_column,
            text_column=text_column,
            feature_columns=feature_columns,
            label_column=label_column,
        )
        classes = list(pool.classes)
    n_items = len(pool) if n_items is None else n_items
    settings = default_settings(
        name,
        {
            "source": os.path.relpath(data.resolve(), configs_dir.resolve()),
            "id_column": id_column,
            "text_column": text_column,
            "feature_columns": list(feature_columns),
            "label_column": label_column,
        },
        text=text_column is not None,
        n_classes=len(classes),
        n_items=n_items,
    )
    if partitioned:
        # Never loaded whole: hashed texts (no vocabulary), the labels from the pass
        # over the label column, and an evaluation set people can label.
        if text_column is not None:
            settings["featurizer"] = {"kind": "hashing"}
        settings["labelling"] = {"labels": classes}
        settings["evaluation"] = {"size": max(1, min(int(0.2 * n_items), PARTITIONED_EVAL))}
    header = f"# labelloop project config for {data.name}; written by `labelloop init`.\n"
    save_config(target, settings, header)
    return Written(target, pool, n_items, classes)


def default_settings(
    name: str, data: dict[str, Any], *, text: bool, n_classes: int, n_items: int
) -> dict[str, Any]:
    """Return the settings ``init`` writes for a pool (text or numeric features).

    Parameters
    ----------
    name : str
        The project name.
    data : dict
        The ``data`` section.
    text : bool
        True for a text column (TF-IDF), False for numeric features.
    n_classes, n_items : int
        Sizes the first batch and the budget.
    """
    return {
        "name": name,
        "data": data,
        "featurizer": {"kind": "tfidf"} if text else {"kind": "numeric"},
        "model": {
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 1000, "C": 10.0} if text else {"max_iter": 1000},
        },
        "strategy": "margin",
        "cold_start": "kmeans",
        "batch_size": 10,
        "initial_size": max(10, 2 * n_classes),
        "budget": min(n_items, 500),
        "seed": 0,
        "evaluation": {"size": 0.2},
        "stopping": {"rule": "stabilizing_predictions", "window": 3, "threshold": 0.99},
    }


def save_config(target: Path, settings: dict[str, Any], header: str) -> None:
    """Write a config atomically, after checking that it loads."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".yaml.partial")
    partial.write_text(header + yaml.safe_dump(settings, sort_keys=False, width=100))
    load_config(partial)  # what we write must load
    partial.replace(target)

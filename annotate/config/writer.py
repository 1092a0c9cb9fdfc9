"""`labelloop init`: write a project config from a data file, inferring what it can."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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
    number_gaps,
    pool_from_frame,
    read_table,
    sample_parquet,
)

__all__ = [
    "Columns",
    "Written",
    "default_settings",
    "infer_columns",
    "save_config",
    "write_config",
]

_ID_NAMES = ("id", "item_id", "uid", "key", "doc_id")
_ROW_NUMBER_NAMES = ("", "rownames", "index", "x", "...1", "row", "rownum", "row_number")
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
    left_out : dict of str to str
        Columns inferred to be neither text nor features, with the reason.
    id_column : str or None
        The id column, given or inferred (None: ids are generated from the rows).
    filled : tuple of str
        Numeric feature columns with gaps, which the featurizer fills by the median.
    codes : tuple of str
        Numeric feature columns of 3 to 10 whole numbers, which may be codes.
    """

    path: Path
    pool: Pool
    n_items: int
    classes: list[str]
    left_out: dict[str, str] = field(default_factory=dict)
    id_column: str | None = None
    filled: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Columns:
    """What each column of a data file is for, as ``init`` inferred it.

    Attributes
    ----------
    id_column, text_column : str or None
        The id and text columns.
    feature_columns : tuple of str
        Numeric feature columns.
    categorical_columns : tuple of str
        Feature columns of categories (one-hot encoded).
    left_out : dict of str to str
        Columns that are none of these, with the reason, for the message.
    """

    id_column: str | None
    text_column: str | None
    feature_columns: tuple[str, ...] = ()
    categorical_columns: tuple[str, ...] = ()
    left_out: dict[str, str] = field(default_factory=dict)


MAX_CATEGORIES = 50  # a string column with more distinct values is not a category
MAX_GAP_SHARE = 0.5  # a column of numbers with more gaps than this is left out
PROSE_WORDS = 5.0  # mean words per value from which a string column is text, not a field


def _id_like(frame: pd.DataFrame, label_column: str, named: Sequence[str] = ()) -> str | None:
    """Return the id column, if one is found, else None.

    A column named like ``id``, else one named like ``customer_id`` or ``PassengerId``
    whose values are unique, else a row number (``0, 1, 2...`` or ``1, 2, 3...`` in file
    order, in a column named as R and pandas write them: ``rownames``, ``Unnamed: 0``,
    ``X``, ``index``): an id must never be learned from as a feature.
    Columns in ``named`` (the user's feature or text columns) are never the id.
    """
    free = [str(c) for c in frame.columns if c != label_column and str(c) not in named]
    for name in free:
        if name.lower() in _ID_NAMES:  # duplicates are reported by load_pool
            return name
    for name in free:
        # customer_id, PassengerId, orderID; not PAID, VALID or HUMID.
        if re.search(r"(_(id|Id|ID)|[a-z](Id|ID))$", name):
            values = frame[name]
            if not number_gaps(values).any() and values.is_unique:
                return name
    for name in free:
        # order_no, ticket_number: numbers that name a row.
        values = frame[name]
        numbered = _id_named(name) and _is_number_column(values)
        if numbered and not number_gaps(values).any() and values.is_unique:
            return name
    for name in free:
        # A row number written with the rows (R's rownames, pandas' unnamed index); a
        # feature that happens to count 1, 2, 3 keeps its place unless named so.
        if name.lower() not in _ROW_NUMBER_NAMES and not name.lower().startswith("unnamed:"):
            continue
        values = pd.to_numeric(frame[name], errors="coerce")
        if len(values) and values.notna().all():
            start = values.iloc[0]
            if start in (0, 1) and np.array_equal(values, np.arange(start, start + len(values))):
                return name
    return None


def _is_number_column(values: pd.Series) -> bool:
    """Whether every value present parses as a number (gaps aside), and one is present."""
    present = values[~number_gaps(values)]
    return bool(len(present)) and bool(pd.to_numeric(present, errors="coerce").notna().all())


def _id_named(name: str) -> bool:
    """Whether a column's name says it numbers things: ``order_no``, ``ticket_number``."""
    return bool(re.search(r"(^|[_\s.])(no|nr|num|number|code)$", name, flags=re.IGNORECASE))


def _looks_like_dates(values: pd.Series) -> bool:
    """Whether a string column holds dates (2024-03-01, 01/03/2024, 2024-03-01 10:00)."""
    if values.empty or pd.api.types.is_numeric_dtype(values):
        return False
    sample = values.astype(str).head(200)
    if not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it guesses the format
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.9)


def number_codes(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Return the numeric columns that may be codes: 3 to 10 distinct whole numbers.

    ``init`` names them so a user can say they are categories (``--categorical-columns``).
    """
    codes = []
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        distinct = values.unique()
        if 3 <= distinct.size <= 10 and bool((distinct == distinct.round()).all()):
            codes.append(str(column))
    return codes


def _has_numbers(values: pd.Series) -> bool:
    """Whether any value present parses as a number."""
    return bool(pd.to_numeric(values.dropna(), errors="coerce").notna().any())


def _is_category_column(values: pd.Series) -> bool:
    """Whether a string column looks like a field of a few short values, not free text."""
    present = values.dropna().astype(str)
    if present.empty:
        return False
    distinct = present.nunique()
    words = present.map(lambda t: len(t.split())).mean()
    return bool(
        distinct <= MAX_CATEGORIES and distinct <= max(2, len(present) // 2) and words < PROSE_WORDS
    )


def infer_columns(
    frame: pd.DataFrame,
    *,
    label_column: str,
    text_column: str | None = None,
    feature_columns: Sequence[str] = (),
    id_column: str | None = None,
    categories: bool = True,
    categorical_columns: Sequence[str] = (),
) -> Columns:
    """Guess the id, text and feature columns that were not given.

    An id column is named like ``id`` (or ``customer_id``, ``PassengerId``, with
    unique values). Without a text
    or feature column:

    - a column of numbers is a numeric feature; its gaps are filled by the median when
      they are at most half of it (else it is left out), never in a partitioned pool;
    - a string column of at most 50 distinct short values (under five words on average,
      and at most one distinct value per two rows) is a category;
    - any other string column is text. The longest becomes the pool's text when it reads
      like prose (five words or more on average) or when there is nothing else to learn
      from; otherwise the numbers and categories are the features and such columns (names,
      codes, tickets) are left out.

    Given feature columns, those without a single number are categories, as are the
    given ``categorical_columns``. With
    ``categories=False`` (a partitioned pool, streamed as numbers), string columns are
    never features.

    Returns
    -------
    Columns
    """
    if id_column is None:
        named = [*feature_columns, *categorical_columns, text_column or ""]
        id_column = _id_like(frame, label_column, named=named)
    if feature_columns:
        given = [str(c) for c in feature_columns if c in frame.columns]
        # A given column is categories only when no value is a number: a column of
        # numbers with a stray word is refused by the loader, naming the value.
        found = tuple(c for c in given if not _has_numbers(frame[c]))
        numeric = tuple(str(c) for c in feature_columns if c not in found)
        categorical = tuple(dict.fromkeys([*map(str, categorical_columns), *found]))
        return Columns(id_column, text_column, numeric, categorical)
    if text_column is not None:
        return Columns(id_column, text_column)
    # Categories named alone change those columns' role; the others are still inferred.
    forced = [str(c) for c in categorical_columns]
    reserved = {label_column, id_column, *forced}
    numbers: list[str] = []
    categorical_found: list[str] = list(forced)
    texts: list[str] = []
    left_out: dict[str, str] = {}
    for column in (str(c) for c in frame.columns if c not in reserved):
        values = frame[column]
        gaps = number_gaps(values)
        if gaps.all():
            left_out[column] = "empty"
        elif _looks_like_dates(values[~gaps]):
            left_out[column] = "dates: derive numbers from them to use them"
        elif _is_number_column(values) and _id_named(column) and values[~gaps].is_unique:
            left_out[column] = "a value per row, named like an id"
        elif _is_number_column(values):
            if gaps.any() and (not categories or gaps.mean() > MAX_GAP_SHARE):
                left_out[column] = f"{int(gaps.sum())} gap(s) in numbers"
            else:
                numbers.append(column)  # gaps, if any, are filled by the median
        elif categories and _is_category_column(values):
            categorical_found.append(column)
        else:
            texts.append(column)
    if texts:
        present = {c: frame[c].dropna().astype(str) for c in texts}
        longest = max(texts, key=lambda c: present[c].str.len().mean())
        words = present[longest].map(lambda t: len(t.split())).mean()
        if words >= PROSE_WORDS or not (numbers or categorical_found):
            others = {c: "a text pool learns from its text column" for c in numbers}
            others.update({c: "a text pool learns from its text column" for c in categorical_found})
            others.update({c: "another text column" for c in texts if c != longest})
            return Columns(id_column, longest, left_out={**left_out, **others})
        left_out.update({c: "short text, not prose" for c in texts})
    return Columns(id_column, None, tuple(numbers), tuple(categorical_found), left_out=left_out)


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
    categorical_columns: Sequence[str] = (),
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
    columns = infer_columns(
        frame,
        label_column=label_column,
        text_column=text_column,
        feature_columns=feature_columns,
        id_column=id_column,
        categories=not partitioned,
        categorical_columns=categorical_columns,
    )
    id_column, text_column = columns.id_column, columns.text_column
    feature_columns, categorical_columns = columns.feature_columns, columns.categorical_columns
    if text_column is None and not feature_columns and not categorical_columns:
        raise ConfigError(f"{data}: found no text or feature column; name one")
    gappy = [c for c in feature_columns if c in frame.columns and number_gaps(frame[c]).any()]
    if partitioned and categorical_columns:
        raise ConfigError(
            f"{data}: column {categorical_columns[0]!r} holds categories, not numbers; a "
            "partitioned pool streams numbers (encode it as 0/1 columns in the files)"
        )
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
            streamed=True,
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
            categorical_columns=categorical_columns,
            missing_numbers="median" if gappy else "refuse",
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
            **({"categorical_columns": list(categorical_columns)} if categorical_columns else {}),
        },
        text=text_column is not None,
        n_classes=len(classes),
        n_items=n_items,
    )
    if gappy and not partitioned:
        settings["data"]["missing_numbers"] = "median"
    if partitioned:
        # Never loaded whole: hashed texts (no vocabulary), the labels from the pass
        # over the label column, and an evaluation set people can label.
        if text_column is not None:
            settings["featurizer"] = {"kind": "hashing"}
        settings["labelling"] = {"labels": classes}
        settings["evaluation"] = {"size": max(1, min(int(0.2 * n_items), PARTITIONED_EVAL))}
    header = f"# labelloop project config for {data.name}; written by `labelloop init`.\n"
    save_config(target, settings, header)
    codes = tuple(number_codes(frame, feature_columns))
    return Written(target, pool, n_items, classes, columns.left_out, id_column, tuple(gappy), codes)


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
        "exploration": "auto",
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

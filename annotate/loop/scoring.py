"""Batch scoring of raw rows with a registered model, in chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["score_frame"]


def score_frame(
    model: Any,
    rows: pd.DataFrame,
    *,
    chunk_size: int = 5_000,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Score raw rows with a loaded model (raw rows in, one probability per label out).

    Parameters
    ----------
    model : object
        Anything whose ``predict(frame)`` returns a frame of probabilities, one column
        per label (a model version loaded with ``mlflow.pyfunc.load_model``).
    rows : pandas.DataFrame
        Raw rows indexed by item id, holding the model's input columns.
    chunk_size : int
        Rows per call to ``predict``.
    on_chunk : callable, optional
        Called with the number of rows of each chunk once it is scored (progress).

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``predicted`` (the most probable label), ``confidence`` (its
        probability) and ``p_<label>`` for every label, in the input order.

    Examples
    --------
    >>> class Half:
    ...     def predict(self, frame):
    ...         return pd.DataFrame({"a": [0.7] * len(frame), "b": [0.3] * len(frame)})
    >>> rows = pd.DataFrame({"text": ["x", "y", "z"]}, index=["i1", "i2", "i3"])
    >>> score_frame(Half(), rows, chunk_size=2).to_dict("list")["predicted"]
    ['a', 'a', 'a']
    """
    parts = []
    for start in range(0, len(rows), chunk_size):
        chunk = rows.iloc[start : start + chunk_size]
        proba = pd.DataFrame(model.predict(chunk))
        parts.append(proba.to_numpy(dtype=np.float64))
        if on_chunk is not None:
            on_chunk(len(chunk))
        labels = [str(c) for c in proba.columns]
    if not parts:
        raise ValueError("no rows to score")
    values = np.vstack(parts)
    best = values.argmax(axis=1)
    out = pd.DataFrame(
        {
            "item_id": rows.index.astype(str),
            "predicted": np.asarray(labels, dtype=object)[best],
            "confidence": values[np.arange(len(values)), best],
        }
    )
    for j, label in enumerate(labels):
        out[f"p_{label}"] = values[:, j]
    return out

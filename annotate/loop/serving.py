"""What `labelloop serve` answers with: the champion's predictions on Label Studio tasks.

The champion is loaded as MLflow serves it (raw rows in, one probability per label
out), so a task labelloop never pushed is scored from its own data. A task that carries
a labelloop ``item_id`` of the pool is scored from the pool's row; its guess is hidden
where labelloop hides it (``human``, ``audit`` and ``evaluation`` tasks). The score is
the champion's certainty as the project's strategy measures it, as in the queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelloop.annotate.labelstudio.adopt import item_of_task
from labelloop.annotate.labelstudio.translate import ItemKind, choice_result
from labelloop.datasets import Pool, category_text, number_gaps
from labelloop.learners import certainty

if TYPE_CHECKING:
    from labelloop.annotate.loop.tracking import Tracker

__all__ = ["ChampionScorer", "task_rows"]

_HIDDEN = ("human", "audit", "evaluation")


def task_rows(
    tasks: Sequence[Mapping[str, Any]],
    inputs: Sequence[str],
    pool: Pool | None = None,
    *,
    adopted: bool = False,
    text: bool | None = None,
) -> tuple[pd.DataFrame, list[int]]:
    """Turn Label Studio tasks into the model's raw input rows.

    A task whose ``data.item_id`` is in ``pool`` takes the pool's row, as does a task
    of an adopted project (``adopted``: item ``ls-<task id>``, images included). Otherwise a text
    model (one input column) takes ``data[<column>]``, else ``data.text``, else the
    task's only string value; a tabular model takes its columns from ``data.table`` or
    from ``data`` itself. ``text`` says which the model is (None: a model of one input
    is a text model), so a table of one column is read as a table.

    Returns
    -------
    (rows, usable)
        One row per usable task, and the positions in ``tasks`` of those tasks (a task
        with no usable data gets no row).

    Examples
    --------
    >>> rows, usable = task_rows([{"data": {"text": "a goal"}}, {"data": {}}], ["body"])
    >>> rows["body"].tolist(), usable
    (['a goal'], [0])
    """
    known = set(pool.ids.tolist()) if pool is not None else set()
    records: list[dict[str, Any]] = []
    usable: list[int] = []
    for position, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, Mapping) else None
        if not isinstance(data, Mapping):
            continue
        item = data.get("item_id")
        if adopted and task.get("id") is not None:
            item = item_of_task(int(task["id"]))  # an adopted project's task
        if pool is not None and isinstance(item, str) and item in known:
            records.append({c: pool.frame.at[item, c] for c in inputs})
            usable.append(position)
            continue
        row = _row_from_data(data, inputs, text=len(inputs) == 1 if text is None else text)
        if row is not None:
            records.append(row)
            usable.append(position)
    return pd.DataFrame.from_records(records, columns=list(inputs)), usable


def _typed(rows: pd.DataFrame, kinds: Mapping[str, str]) -> tuple[pd.DataFrame, NDArray[np.bool_]]:
    """Give each column the type the model's signature declares (MLflow checks it first).

    A task's table holds JSON: whole numbers arrive as integers, which MLflow refuses for
    a ``double`` column, and categories may arrive as numbers or booleans, which it
    refuses for a ``string`` one; the model spells them as its loader did. A gap in a
    number (null, ``""``, ``NA``) stays a gap; a word there makes the row unreadable,
    as the loader would refuse it.

    Returns
    -------
    (typed rows, readable)
        The rows, and which of them hold no word where a number belongs.
    """
    typed = pd.DataFrame(index=rows.index)
    readable = np.ones(len(rows), dtype=bool)
    for column in rows.columns:
        values = rows[column].astype(object)
        if kinds.get(column) == "double":
            numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
            readable &= ~(numbers.isna() & ~number_gaps(values)).to_numpy()
            typed[column] = numbers
        else:
            typed[column] = [category_text(v) for v in values]
    return typed, readable


def _row_from_data(
    data: Mapping[str, Any], inputs: Sequence[str], *, text: bool
) -> dict[str, Any] | None:
    if text:
        (column,) = inputs
        for key in (column, "text"):
            if isinstance(data.get(key), str) and data[key].strip():
                return {column: data[key]}
        strings = [v for v in data.values() if isinstance(v, str) and v.strip()]
        return {column: strings[0]} if len(strings) == 1 else None
    table = data.get("table")
    source = table if isinstance(table, Mapping) else data
    if not all(c in source for c in inputs):
        return None
    return {c: source[c] for c in inputs}


class ChampionScorer:
    """Scores tasks with the current champion, reloading it when the champion changes.

    Parameters
    ----------
    tracker : Tracker
        The project's MLflow record.
    kind : {"text", "image", "tabular"}
        What the project's tasks show (names the result's ``to_name``).
    strategy : str
        The project's strategy (what the score measures).
    pool : Pool, optional
        The project's pool, for tasks labelloop pushed.
    recheck_s : float
        How long the champion's version is trusted before MLflow is asked again.
    names : (str, str), optional
        An adopted project's ``(from_name, to_name)`` for the result.
    """

    def __init__(
        self,
        tracker: Tracker,
        kind: ItemKind,
        strategy: str,
        pool: Pool | None = None,
        *,
        recheck_s: float = 2.0,
        names: tuple[str, str] | None = None,
    ) -> None:
        self.tracker, self.kind, self.strategy, self.pool = tracker, kind, strategy, pool
        self.names = names
        self.recheck_s = recheck_s
        # Two locks: a /predict loading a new champion never holds up /setup's answer.
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        self._checked = -float("inf")
        self._version: str | None = None
        self._loaded: tuple[str, Any] | None = None

    def version(self) -> str | None:
        """Return the champion's version (``None`` before there is one); cheap, cached."""
        with self._lock:
            if time.monotonic() - self._checked > self.recheck_s:
                found = self.tracker.champion()
                self._version = None if found is None else found[0]
                self._checked = time.monotonic()
            return self._version

    def versions(self) -> list[str]:
        """Return every registered version, oldest first."""
        name = self.tracker.model_name
        return [f"{name}:v{v['version']}" for v in self.tracker.versions()]

    def _model(self, version: str) -> Any:
        with self._loading:
            if self._loaded is None or self._loaded[0] != version:
                number = version.rsplit(":v", 1)[1]
                self._loaded = (
                    version,
                    self.tracker.load_model(f"models:/{self.tracker.model_name}/{number}"),
                )
            return self._loaded[1]

    def load(self) -> str | None:
        """Load the champion now (before serving, so the first request is quick)."""
        version = self.version()
        if version is not None:
            self._model(version)
        return version

    def predict(self, tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Return one prediction per task, in order (Label Studio's ``results``).

        A task with no usable data, or any task before a champion exists, gets an empty
        result with no score.
        """
        version = self.version()
        empty: dict[str, Any] = {"result": [], "score": None, "model_version": version or "none"}
        out: list[dict[str, Any]] = [dict(empty) for _ in tasks]
        if version is None or not tasks:
            return out
        model = self._model(version)
        inputs = list(model.unwrap_python_model().inputs)
        text = getattr(model.unwrap_python_model(), "featurizer_kind", "") != "numeric"
        rows, usable = task_rows(
            tasks, inputs, self.pool, adopted=self.names is not None, text=text
        )
        if not usable:
            return out
        typed, readable = _typed(rows, model.unwrap_python_model().inputs)
        usable = [position for position, ok in zip(usable, readable, strict=True) if ok]
        if not usable:
            return out
        proba = model.predict(typed[readable].reset_index(drop=True))
        labels = [str(c) for c in proba.columns]
        values = proba.to_numpy(dtype=np.float64)
        sure = certainty(values, self.strategy)
        best = values.argmax(axis=1)
        for k, position in enumerate(usable):
            data = tasks[position].get("data") or {}
            hidden = data.get("labelloop_route") in _HIDDEN
            out[position] = {
                "result": []
                if hidden
                else choice_result(self.kind, [labels[int(best[k])]], names=self.names),
                "score": round(float(sure[k]), 6),
                "model_version": version,
            }
        return out

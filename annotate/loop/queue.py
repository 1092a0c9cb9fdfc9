"""The annotators' queue: Label Studio serves the open task the champion is least sure of.

Label Studio's uncertainty sampling serves, among the tasks holding a prediction of the
project's ``model_version``, the one with the lowest prediction ``score``. So after every
cycle that has a model (and after a ``push``), each open labelloop task gets exactly one
prediction from the champion: its certainty as the project's strategy measures it
(:func:`certainty`), with the guess the push showed (no route, or ``review``) and an
empty result on the others (``human``, blind ``audit`` and ``evaluation`` items,
cold-start picks), so the order never leaks a guess nor changes the one shown.
Items drawn at random for the share of exploration would mostly come last (a model is
sure of most items), so they take evenly spaced places in that order instead
(:func:`spread_random_picks`): a team that labels part of the queue labels its share.
Leftovers of older batches (a skipped task, a task whose annotation was deleted) are
re-scored with the same model as the new batch, so their scores compare; the version
matches what ``labelloop serve`` answers, so Label Studio never asks it again for tasks
labelloop has scored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from labelloop.annotate.labelstudio.translate import choice_result
from labelloop.annotate.loop.project import LabellingProject
from labelloop.annotate.state.records import drawn_at_random
from labelloop.datasets import FeatureMatrix
from labelloop.learners import aligned_proba, certainty

if TYPE_CHECKING:
    from labelloop.annotate.loop.tracking import Tracker

__all__ = [
    "QUEUE_META",
    "QueueRefresh",
    "queue_order",
    "refresh_in_pick_order",
    "refresh_queue",
    "refresh_with_champion",
]

QUEUE_META = "queue_version"  # the model version every open task was last scored with
VERSIONS_META = "queue_versions_written"  # an adopted project's labelloop versions (JSON)


@dataclass(frozen=True)
class QueueRefresh:
    """What a refresh of the annotators' queue did."""

    version: str
    n_open: int
    lowest: float | None  # the certainty of the task served next


def refresh_queue(
    project: LabellingProject, proba_of: Callable[[list[str]], NDArray[Any]], version: str
) -> QueueRefresh:
    """Score every open task with a model and make Label Studio serve them in that order.

    Idempotent: a rerun after a crash in the middle deletes and imports again.

    Parameters
    ----------
    project : LabellingProject
        The open project.
    proba_of : callable
        Item ids -> probabilities, one column per label of ``project.labels``, in order.
    version : str
        The model's version, written on each prediction and as the project's
        ``model_version``.

    Returns
    -------
    QueueRefresh
    """
    state, pool = project.state, project.pool
    known = set(pool.ids.tolist())
    rows = [r for r in state.open_tasks() if r["item_id"] in known]
    if not rows:
        # Nothing to order; and Label Studio takes a model version only once a prediction
        # carries it, so the project keeps the one it has.
        return QueueRefresh(version=version, n_open=0, lowest=None)
    items = [r["item_id"] for r in rows]
    sure = certainty(proba_of(items), project.config.strategy)
    return _publish(project, rows, spread_random_picks(rows, [float(v) for v in sure]), version)


def spread_random_picks(rows: list[dict[str, Any]], sure: list[float]) -> list[float]:
    """Give the open items drawn at random evenly spaced places among the others.

    Parameters
    ----------
    rows : list of dict
        Open tasks as :meth:`StateStore.open_tasks` returns them; an item drawn at random
        is a batch item :func:`drawn_at_random` says so of (evaluation items and audits
        keep their certainty).
    sure : list of float
        The champion's certainty of each row (served lowest first).

    Returns
    -------
    list of float
        ``sure``, with the random items' values replaced, in pick order, by the other
        rows' certainties at the quantiles ``1/(m+1), ..., m/(m+1)`` (``m`` of them).

    Examples
    --------
    >>> rows = [{"batch_id": "b", "rank": k, "score": s, "route": None}
    ...         for k, s in enumerate([0.1, 0.2, 0.3, None], start=1)]
    >>> spread_random_picks(rows, [0.2, 0.4, 0.6, 0.99])
    [0.2, 0.4, 0.6, 0.4]
    """
    drawn = [
        k
        for k, row in enumerate(rows)
        if row.get("rank") is not None and drawn_at_random(row.get("score"), row.get("route"))
    ]
    if not drawn:
        return list(sure)
    random = set(drawn)
    others = np.sort([v for k, v in enumerate(sure) if k not in random])
    if others.size == 0:
        return list(sure)
    drawn.sort(key=lambda k: (str(rows[k]["batch_id"] or ""), int(rows[k]["rank"])))
    places = np.quantile(others, np.arange(1, len(drawn) + 1) / (len(drawn) + 1))
    spread = list(sure)
    for k, value in zip(drawn, places.tolist(), strict=True):
        spread[k] = float(value)
    return spread


def refresh_in_pick_order(project: LabellingProject) -> QueueRefresh | None:
    """Serve an adopted project's open picks in the order they were picked (no model yet).

    labelloop's own projects import each batch in order, so Label Studio serves it
    that way; an adopted project's picks are tasks already there, in any order, so
    before the first model they are scored by rank (first batch first), under the model
    version ``<name>:pick-order``. Returns ``None`` for a project labelloop created.
    """
    if not project.adopted:
        return None
    known = set(project.pool.ids.tolist())
    rows = [r for r in project.state.open_tasks() if r["item_id"] in known]
    if not rows:
        return None
    rows.sort(key=lambda r: (str(r["batch_id"] or ""), int(r["rank"] or 0)))
    scores = [(k + 1) / (len(rows) + 1) for k in range(len(rows))]
    return _publish(project, rows, scores, f"{project.config.name}:pick-order")


def _publish(
    project: LabellingProject, rows: list[dict[str, Any]], scores: list[float], version: str
) -> QueueRefresh:
    """Replace the open tasks' predictions by these scores and serve the lowest first."""
    state = project.state
    predictions = [
        {
            "task": int(row["task_id"]),
            "model_version": version,
            "score": round(scores[k], 6),
            # The guess the push showed stays what is shown (routing counts corrections
            # of it); only the order changes.
            "result": []
            if row["predicted"] is None
            else choice_result(project.kind, [row["predicted"]], names=project.names),
        }
        for k, row in enumerate(rows)
    ]
    # Marked stale first: a crash before the end leaves `status` saying so, and the next
    # cycle or push does it again (deleting first, so no task keeps two predictions).
    state.set_meta(QUEUE_META, "")
    versions = None
    if project.adopted:
        # Only labelloop's own versions are deleted: the team's predictions stay.
        written = set(json.loads(state.get_meta(VERSIONS_META) or "[]")) | {version}
        versions = sorted(written)
        state.set_meta(VERSIONS_META, json.dumps(versions))
    project.gateway.replace_predictions(project.project_id, predictions, versions=versions)
    project.gateway.use_uncertainty_sampling(project.project_id, version)
    state.set_meta(QUEUE_META, version)
    if versions is not None:
        state.set_meta(VERSIONS_META, json.dumps([version]))
    return QueueRefresh(version=version, n_open=len(rows), lowest=min(scores))


def refresh_with_champion(
    project: LabellingProject,
    X: FeatureMatrix,
    tracker: Tracker,
    at_hand: tuple[str | None, Any] = (None, None),
) -> QueueRefresh | None:
    """Re-score every open task with the champion (:func:`refresh_queue`).

    ``at_hand`` is a ``(version, classifier)`` trained on ``X`` (the cycle's own model):
    used when it is the champion. Another champion is loaded from MLflow whole, fitted
    featurizer included, and scores the items' raw rows: it may have been trained on
    features since refitted (after ``accept-data``). Returns ``None`` while no version
    is champion.
    """
    found = tracker.champion()
    if found is None:
        return None
    version, _ = found
    pool, labels = project.pool, project.labels
    if at_hand[0] == version:
        model = at_hand[1]

        def proba_of(items: list[str]) -> NDArray[Any]:
            return aligned_proba(model, X[pool.positions(items)], labels)

    else:
        served = tracker.load_model(f"models:/{tracker.model_name}/{version.rsplit(':v', 1)[1]}")
        inputs = list(served.unwrap_python_model().inputs)

        def proba_of(items: list[str]) -> NDArray[Any]:
            scored = served.predict(pool.frame.loc[items, inputs])
            aligned = scored.reindex(columns=labels, fill_value=0.0)
            return np.asarray(aligned.to_numpy(dtype=np.float64))

    return refresh_queue(project, proba_of, version)


def queue_order(project: LabellingProject) -> str:
    """Say, in one line, in which order Label Studio serves the project's tasks now."""
    sampling, served_version = project.gateway.sampling(project.project_id)
    scored = project.state.get_meta(QUEUE_META)
    n_open = len(project.state.open_tasks())
    if scored == "":
        return (
            "re-scoring cut short (or under way): the next cycle or push finishes it; "
            "until then Label Studio may serve open tasks in any order"
        )
    picked_order = bool(scored) and str(scored).endswith(":pick-order")
    if sampling == "Uncertainty sampling" and picked_order and served_version == scored:
        return f"in pick order (no model yet): {n_open} open task(s)"
    if sampling == "Uncertainty sampling" and scored and served_version == scored:
        return f"least sure first: uncertainty sampling on {scored}, {n_open} open task(s)"
    if sampling == "Uncertainty sampling":
        return (
            f"uncertainty sampling on {served_version or 'no model version'}, but the open "
            f"tasks were scored with {scored or 'no model yet'}: the next cycle re-scores them"
        )
    if not scored:
        return f"{sampling.lower() or 'sequential sampling'}: in push order until a model exists"
    return (
        f"{sampling.lower()} (set in Label Studio); the next cycle switches back to "
        "uncertainty sampling"
    )

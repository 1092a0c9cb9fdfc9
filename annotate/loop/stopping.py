"""The evaluation set, the stop set and the stopping rule: one implementation for both sides.

The live loop and ``labelloop simulate`` draw their evaluation and stop sets with the
same functions and decide to stop with the same criterion objects
(:mod:`labelloop.learners._stopping`): the live loop stores each cycle's measurement
(``kappa_previous`` or ``stop_set_uncertainty``) and asks the criterion to ``decide`` on
the stored history; the simulation keeps the history in the criterion. So the
simulation's stopping figures are evidence for the live loop.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from labelloop.annotate.config.schema import ProjectConfig
from labelloop.annotate.failpoints import failpoint
from labelloop.learners import (
    OverallUncertainty,
    StabilizingPredictions,
    aligned_proba,
    draw_evaluation_set,
    draw_stop_set,
    mean_uncertainty,
    prediction_kappa,
)

if TYPE_CHECKING:
    from labelloop.annotate.loop.project import LabellingProject
    from labelloop.datasets import FeatureMatrix

__all__ = [
    "MEASUREMENT",
    "ensure_eval_set",
    "evaluation_positions",
    "observe_stop_set",
    "stop_positions",
    "stop_verdict",
    "stopping_criterion",
]

#: The per-cycle metric each rule decides on.
MEASUREMENT = {
    "stabilizing_predictions": "kappa_previous",
    "overall_uncertainty": "stop_set_uncertainty",
}


def stopping_criterion(config: ProjectConfig) -> StabilizingPredictions | OverallUncertainty | None:
    """Return the config's stopping criterion, or None for ``rule: none``."""
    rule = config.stopping
    if rule.rule == "stabilizing_predictions":
        return StabilizingPredictions(window=rule.window, threshold=rule.threshold)
    if rule.rule == "overall_uncertainty":
        return OverallUncertainty(threshold=rule.threshold)
    return None


def evaluation_positions(config: ProjectConfig, n_items: int, seed: int) -> NDArray[np.intp]:
    """Draw the evaluation set of a pool of ``n_items`` under ``seed``, in the order drawn."""
    return draw_evaluation_set(n_items, config.evaluation.size, seed)


def stop_positions(config: ProjectConfig, n_items: int, seed: int) -> NDArray[np.intp]:
    """Draw the fixed stop set of a pool of ``n_items`` under ``seed`` (sorted)."""
    return draw_stop_set(n_items, config.stopping.stop_set_size, seed)


def ensure_eval_set(project: LabellingProject) -> set[str]:
    """Draw the evaluation set once, at random from the config's seed, and keep it.

    It is kept in the order drawn: sent to people in that order, every partial
    evaluation set is a random sample.
    """
    existing = project.state.eval_items()
    if existing:
        return existing
    positions = evaluation_positions(project.config, len(project.pool), project.config.seed)
    chosen = project.pool.ids[positions].tolist()
    project.state.set_eval_items(chosen)
    return set(chosen)


def observe_stop_set(
    project: LabellingProject, X: FeatureMatrix, model: Any, *, cycle: int | None = None
) -> dict[str, float]:
    """Measure a new model on the stop set; return this cycle's stopping metrics.

    ``kappa_previous`` compares the model's predictions with the previous cycle's model
    (saved in the state store, with the cycle that made them); ``stop_set_uncertainty``
    is the mean least-confidence score. A cycle redone after a crash compares with the
    cycle before it again, never with its own first attempt.

    Parameters
    ----------
    cycle : int, optional
        The cycle being measured; by default the newest cycle in the state store.
    """
    pool, state, config = project.pool, project.state, project.config
    if cycle is None:
        cycles = state.cycles()
        cycle = int(cycles[-1]["cycle"]) if cycles else 0
    stop_ids = state.get_meta("stop_set")
    if stop_ids is None:
        positions = stop_positions(config, len(pool), config.seed)
        stop_ids = json.dumps(pool.ids[positions].tolist())
        state.set_meta("stop_set", stop_ids)
    rows = pool.positions(json.loads(stop_ids))
    proba = aligned_proba(model, X[rows], project.labels)
    predictions = np.asarray(project.labels, dtype=object)[proba.argmax(axis=1)].tolist()
    metrics = {"stop_set_uncertainty": mean_uncertainty(proba)}
    previous = _previous_predictions(state.get_meta("stop_predictions"), cycle)
    if previous is not None:
        metrics["kappa_previous"] = prediction_kappa(previous, predictions)
    saved = {"cycle": cycle, "predictions": predictions, "previous": previous}
    state.set_meta("stop_predictions", json.dumps(saved))
    failpoint("stop_set_saved")
    return metrics


def _previous_predictions(saved: str | None, cycle: int) -> list[str] | None:
    """Return the stop-set predictions of the model before ``cycle``'s, if any were saved.

    Examples
    --------
    >>> saved = json.dumps({"cycle": 4, "predictions": ["b"], "previous": ["a"]})
    >>> _previous_predictions(saved, 5), _previous_predictions(saved, 4)
    (['b'], ['a'])
    """
    if saved is None:
        return None
    data = json.loads(saved)
    if isinstance(data, list):  # saved before the cycle was kept with them
        return [str(p) for p in data]
    kept = data["previous"] if int(data["cycle"]) == cycle else data["predictions"]
    return None if kept is None else [str(p) for p in kept]


def stop_verdict(project: LabellingProject) -> tuple[bool, str]:
    """Apply the label budget and the config's stopping rule to the cycles so far."""
    config = project.config
    cycles = [
        c for c in project.state.cycles() if c["status"] != "started" and c["n_labels"] is not None
    ]
    if cycles and cycles[-1]["n_labels"] >= config.budget:
        return True, f"label budget reached ({cycles[-1]['n_labels']} >= {config.budget})"
    criterion = stopping_criterion(config)
    if criterion is None:
        return False, "no stopping rule"
    key = MEASUREMENT[config.stopping.rule]
    history = [float(c["metrics"][key]) for c in cycles if key in c["metrics"]]
    verdict = criterion.decide(history)
    return verdict.stop, verdict.reason

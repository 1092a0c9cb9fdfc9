"""The annotators' queue on a real Label Studio: the least sure open task is served first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.queue import queue_order
from labelloop.annotate.loop.tracking import Tracker
from labelloop.learners import aligned_proba, certainty
from tests.helpers import api, label_tasks, served_next

pytestmark = pytest.mark.integration


def open_predictions(project: Any, credentials: Credentials) -> dict[int, list[dict[str, Any]]]:
    """Every open labelloop task's predictions, as Label Studio holds them."""
    ls = api(credentials)
    return {
        int(row["task_id"]): [
            p if isinstance(p, dict) else p.dict()
            for p in ls.predictions.list(task=int(row["task_id"]))
        ]
        for row in project.state.open_tasks()
    }


def test_next_serves_the_least_sure_open_task_after_a_champion_change(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    path = tmp_path / "queue.yaml"
    path.write_text(
        # Digits: ten classes, so a model on a few labels is far from perfect and the
        # next one, on more, takes the champion's place.
        "name: queue-order\ndata: {source: 'bundled:digits'}\nfeaturizer: {kind: numeric}\n"
        "batch_size: 10\nbudget: 120\nevaluation: {size: 60, per_batch: 8}\n"
        "stopping: {rule: none}\n"
    )
    config = load_config(path)
    project = open_tracked(config, load_project_pool(config), workdir)
    X = project_features(config, project.pool, tmp_path / "cache")
    tracker = Tracker(workdir, config.name)
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    ls = api(credentials)

    first = run_cycle(project, X, tracker)  # cold start: no model, no predictions to sort by
    assert first.queue is None
    assert ls.projects.get(id=project.project_id).sampling == "Sequential sampling"
    assert queue_order(project) == "sequential sampling: in push order until a model exists"
    label_tasks(project, credentials, lambda item, row: str(gold[item]), to_name="image")

    second = run_cycle(project, X, tracker)
    first_champion = tracker.champion()
    assert second.queue is not None and first_champion is not None
    assert second.queue.version == first_champion[0] == second.model_version
    described = ls.projects.get(id=project.project_id)
    assert (described.sampling, described.model_version) == (
        "Uncertainty sampling",
        first_champion[0],
    )

    # Leftovers: one task of the batch is left alone, one loses its only annotation.
    batch = [r["item_id"] for r in project.state.batch_items(str(second.batch_id))]
    tasks = project.state.task_map()
    left_alone, relabelled = batch[-1], batch[-2]
    label_tasks(
        project,
        credentials,
        lambda item, row: None if item == left_alone else gold[item],
        to_name="image",
    )
    (annotation,) = list(ls.annotations.list(id=tasks[relabelled]))
    ls.annotations.delete(id=annotation.id)

    third = run_cycle(project, X, tracker)  # a new champion: every open task is re-scored
    champion = tracker.champion()
    assert champion is not None and champion != first_champion
    assert third.queue is not None and third.queue.version == champion[0]
    held = open_predictions(project, credentials)
    assert {tasks[left_alone], tasks[relabelled]} <= set(held)
    assert all(len(p) == 1 for p in held.values()), "a task holds more than one prediction"
    assert {p[0]["model_version"] for p in held.values()} == {champion[0]}
    assert ls.projects.get(id=project.project_id).model_version == champion[0]

    # The scores are the champion's certainty, leftovers included ...
    model = tracker.load_classifier(champion[1])
    by_task = {int(r["task_id"]): r for r in project.state.open_tasks()}
    items = [by_task[t]["item_id"] for t in held]
    expected = certainty(
        aligned_proba(model, X[project.pool.positions(items)], project.labels), config.strategy
    )
    np.testing.assert_allclose([p[0]["score"] for p in held.values()], expected, atol=1e-5)
    # ... the guess is shown on picked items only, never on evaluation items ...
    routes = {t: by_task[t]["route"] for t in held}
    assert all(bool(held[t][0]["result"]) == (routes[t] is None) for t in held), routes
    for task, (prediction,) in held.items():  # the guess shown is the one the push showed
        if prediction["result"]:
            assert prediction["result"][0]["value"]["choices"] == [by_task[task]["predicted"]]
    # ... and Label Studio serves the least sure one first, as status says.
    assert queue_order(project).startswith(
        f"least sure first: uncertainty sampling on {champion[0]}"
    )
    least_sure = min(held, key=lambda t: (held[t][0]["score"], t))
    assert served_next(credentials, project.project_id) == least_sure
    assert held[least_sure][0]["score"] == pytest.approx(third.queue.lowest, abs=1e-5)

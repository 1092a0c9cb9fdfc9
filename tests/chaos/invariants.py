"""What must hold after every chaos step, measured on Label Studio, the state and MLflow.

Each check returns the violations it found, one line each; an empty list is a pass.
Label Studio's side is read with plain API calls and resolved here, independently of
labelloop's own pull, so a bug in the pull cannot hide itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LabelStudioView",
    "exported_labels_match",
    "label_studio_view",
    "mirrored_exactly",
    "no_machine_label_for_people",
    "no_run_left_running",
    "one_finished_run_per_cycle",
    "one_task_per_item",
    "tasks_known_to_state",
]


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


@dataclass
class LabelStudioView:
    """The project's tasks as Label Studio holds them, as plain dicts.

    Each task is ``{"id", "item_id", "annotations": [{"id", "cancelled", "choices"}]}``.
    """

    tasks: list[dict[str, Any]]


def label_studio_view(client: Any, project_id: int) -> LabelStudioView:
    """List every task of the project with its annotations."""
    tasks = []
    for task in client.tasks.list(project=project_id, fields="all", page_size=500):
        annotations = []
        for annotation in _get(task, "annotations") or []:
            choices: list[str] = []
            for region in _get(annotation, "result") or []:
                choices.extend(str(c) for c in (_get(region, "value") or {}).get("choices", []))
            annotations.append(
                {
                    "id": int(_get(annotation, "id")),
                    "cancelled": bool(_get(annotation, "was_cancelled")),
                    "choices": tuple(sorted(set(choices))),
                }
            )
        data = _get(task, "data") or {}
        item = data.get("item_id")
        tasks.append(
            {
                "id": int(_get(task, "id")),
                "item_id": None if item is None else str(item),
                "annotations": annotations,
            }
        )
    return LabelStudioView(tasks)


def expected_labels(view: LabelStudioView) -> dict[str, str]:
    """Each item's label as its Label Studio annotations decide it (majority; ties none)."""
    votes: dict[str, list[str]] = {}
    for task in view.tasks:
        if task["item_id"] is None:
            continue
        for annotation in task["annotations"]:
            if not annotation["cancelled"] and len(annotation["choices"]) == 1:
                votes.setdefault(task["item_id"], []).append(annotation["choices"][0])
    labels = {}
    for item, cast in votes.items():
        ranked = Counter(cast).most_common()
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            labels[item] = ranked[0][0]
    return labels


def mirrored_exactly(view: LabelStudioView, rows: list[dict[str, Any]]) -> list[str]:
    """Every annotation of our tasks is stored as it is, and nothing deleted is kept.

    ``rows`` are the state's annotation rows (``StateStore.annotation_rows``).
    """
    there = {
        (a["id"], task["id"], "cancelled" if a["cancelled"] else "label", a["choices"])
        for task in view.tasks
        if task["item_id"] is not None
        for a in task["annotations"]
    }
    stored = {
        (
            int(r["annotation_id"]),
            int(r["task_id"]),
            "cancelled" if r["status"] == "cancelled" else "label",
            () if r["status"] == "cancelled" else tuple(r["labels"]),
        )
        for r in rows
        if r["status"] != "deleted"
    }
    there = {(a, t, kind, () if kind == "cancelled" else c) for a, t, kind, c in there}
    found = [f"annotation {a} on task {t} missing from the state" for a, t, _, _ in there - stored]
    found += [
        f"annotation {a} on task {t} kept in the state but not in Label Studio ({k} {c})"
        for a, t, k, c in stored - there
    ]
    return found


def one_task_per_item(view: LabelStudioView) -> list[str]:
    """No item has two tasks in Label Studio."""
    counts = Counter(t["item_id"] for t in view.tasks if t["item_id"] is not None)
    return [f"item {item!r} has {n} tasks" for item, n in counts.items() if n > 1]


def tasks_known_to_state(
    view: LabelStudioView, task_map: dict[str, int], pending: set[str]
) -> list[str]:
    """Every task of ours is the one the state maps its item to (or its push is pending)."""
    found = []
    for task in view.tasks:
        item = task["item_id"]
        if item is None or item in pending:
            continue
        if task_map.get(item) != task["id"]:
            found.append(
                f"task {task['id']} of item {item!r}: the state maps it to {task_map.get(item)}"
            )
    return found


def exported_labels_match(view: LabelStudioView, exported: dict[str, str]) -> list[str]:
    """The export's human labels are exactly what Label Studio's annotations say."""
    expected = expected_labels(view)
    found = []
    for item in sorted(set(expected) | set(exported)):
        if expected.get(item) != exported.get(item):
            found.append(
                f"item {item!r}: exported {exported.get(item)!r}, "
                f"Label Studio says {expected.get(item)!r}"
            )
    return found


def no_machine_label_for_people(
    machine: dict[str, str], people_only: set[str], classes: set[str]
) -> list[str]:
    """No machine label on an item an always-human rule or class keeps for people."""
    return [
        f"item {item!r} got machine label {label!r}"
        + (" (an always-human rule matches it)" if item in people_only else " (always-human class)")
        for item, label in sorted(machine.items())
        if item in people_only or label in classes
    ]


def no_run_left_running(runs: list[Any]) -> list[str]:
    """No MLflow run of the project, deleted or not, is still RUNNING."""
    return [
        f"run {r.info.run_id} ({r.info.run_name}, {r.info.lifecycle_stage}) is RUNNING"
        for r in runs
        if r.info.status == "RUNNING"
    ]


def one_finished_run_per_cycle(runs: list[Any], cycles: list[dict[str, Any]]) -> list[str]:
    """Each cycle that trained has exactly one finished run, the one the state names."""
    finished: dict[str, list[str]] = {}
    for r in runs:
        if r.info.status == "FINISHED" and r.info.lifecycle_stage == "active":
            finished.setdefault(str(r.data.tags.get("labelloop.cycle")), []).append(r.info.run_id)
    found = []
    for cycle in cycles:
        if cycle["status"] != "pushed" or not cycle.get("run_id"):
            continue
        ids = finished.get(str(cycle["cycle"]), [])
        if ids != [cycle["run_id"]]:
            found.append(
                f"cycle {cycle['cycle']}: finished runs {ids}, the state names {cycle['run_id']}"
            )
    return found

"""Three annotators working in Label Studio through its API, as a team would."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from label_studio_sdk.core.api_error import ApiError

from labelloop.annotate.labelstudio.client import sdk_client
from labelloop.annotate.loop.annotator import demo_account

__all__ = ["Team"]

ACTIONS = ("annotate", "second_opinion", "update", "delete_annotation", "skip", "delete_task")
WEIGHTS = np.array([0.42, 0.1, 0.16, 0.14, 0.12, 0.06])


def _choice(label: str, to_name: str) -> list[dict[str, Any]]:
    return [
        {"from_name": "label", "to_name": to_name, "type": "choices", "value": {"choices": [label]}}
    ]


@dataclass
class Team:
    """Annotators ``annotator-1..3`` acting on a project; counts what they did.

    Parameters
    ----------
    url, api_key : str
        The Label Studio server and the admin key (annotations are attributed to the
        annotator accounts through ``completed_by``).
    project_id : int
        The project to work in.
    gold : dict
        item id -> true label; a share ``error_rate`` of labels is wrong on purpose.
    labels : list of str
        The project's labels.
    to_name : str
        The object tag the choices refer to (``text``, ``image`` or ``table``).
    rng : numpy.random.Generator
        Every choice the team makes.
    """

    url: str
    api_key: str
    project_id: int
    gold: dict[str, str]
    labels: list[str]
    to_name: str
    rng: np.random.Generator
    error_rate: float = 0.1
    done: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.client = sdk_client(self.url, self.api_key, timeout_s=30)
        existing = {u.email: int(u.id) for u in self.client.users.list()}
        self.people = []
        for k in (1, 2, 3):
            account = demo_account(k)
            if account["email"] not in existing:
                existing[account["email"]] = int(self.client.users.create(**account).id)
            self.people.append(existing[account["email"]])

    def close(self) -> None:
        """Close the team's HTTP connections."""
        self.client._labelloop_http.close()

    def _label(self, item: str) -> str:
        label = self.gold[item]
        if self.rng.random() < self.error_rate:
            label = str(self.rng.choice([x for x in self.labels if x != label]))
        return label

    def act(self, tasks: list[dict[str, Any]], n: int) -> None:
        """Do ``n`` random things to the project's ``tasks`` (as last listed)."""
        for _ in range(n):
            ours = [t for t in tasks if t["item_id"] is not None and not t.get("gone")]
            action = ACTIONS[int(self.rng.choice(len(ACTIONS), p=WEIGHTS / WEIGHTS.sum()))]
            try:
                getattr(self, f"_{action}")(ours)
            except ApiError as exc:  # a task deleted meanwhile: people meet that too
                self.done[f"refused by Label Studio (HTTP {exc.status_code})"] += 1

    def _person(self) -> int:
        return self.people[int(self.rng.integers(len(self.people)))]

    def _pick(self, candidates: list[Any]) -> Any:
        return candidates[int(self.rng.integers(len(candidates)))] if candidates else None

    def _vote(self, task: dict[str, Any] | None) -> None:
        if task is None:
            return
        self.client.annotations.create(
            id=task["id"],
            result=_choice(self._label(task["item_id"]), self.to_name),
            completed_by=self._person(),
        )
        task["annotations"].append({"id": -1})
        self.done["annotations created"] += 1

    def _annotate(self, tasks: list[dict[str, Any]]) -> None:
        self._vote(self._pick([t for t in tasks if not t["annotations"]]))

    def _second_opinion(self, tasks: list[dict[str, Any]]) -> None:
        self._vote(self._pick([t for t in tasks if t["annotations"]]))

    def _existing(self, tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
        found = [a for t in tasks for a in t["annotations"] if a["id"] > 0 and not a.get("gone")]
        return self._pick(found)

    def _update(self, tasks: list[dict[str, Any]]) -> None:
        annotation = self._existing(tasks)
        if annotation is None or annotation["cancelled"]:
            return
        label = str(self.rng.choice(self.labels))
        self.client.annotations.update(id=annotation["id"], result=_choice(label, self.to_name))
        self.done["annotations updated"] += 1

    def _delete_annotation(self, tasks: list[dict[str, Any]]) -> None:
        annotation = self._existing(tasks)
        if annotation is None:
            return
        self.client.annotations.delete(id=annotation["id"])
        annotation["gone"] = True
        self.done["annotations deleted"] += 1

    def _skip(self, tasks: list[dict[str, Any]]) -> None:
        task = self._pick([t for t in tasks if not t["annotations"]])
        if task is None:
            return
        self.client.annotations.create(
            id=task["id"], result=[], was_cancelled=True, completed_by=self._person()
        )
        task["annotations"].append({"id": -1})
        self.done["tasks skipped"] += 1

    def _delete_task(self, tasks: list[dict[str, Any]]) -> None:
        task = self._pick(tasks)
        if task is None:
            return
        self.client.tasks.delete(id=task["id"])
        task["gone"] = True
        task["annotations"] = []
        self.done["tasks deleted"] += 1

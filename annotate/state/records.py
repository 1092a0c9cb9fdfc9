"""The records the state store keeps: an item on its way to Label Studio, an annotation back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AnnotationRecord", "Status", "TaskDraft", "drawn_at_random"]


NOT_PICKED_ROUTES = ("evaluation", "audit")  # pushed unscored, but not drawn by a pick


def drawn_at_random(score: float | None, route: str | None) -> bool:
    """Whether a batch item was drawn at random (the share of exploration).

    Such an item is stored without an acquisition score, as are evaluation items and
    audits, which its route tells apart.

    Examples
    --------
    >>> drawn_at_random(None, None), drawn_at_random(None, "audit"), drawn_at_random(0.1, None)
    (True, False, False)
    """
    return score is None and route not in NOT_PICKED_ROUTES


@dataclass(frozen=True)
class TaskDraft:
    """One item as it goes to Label Studio, with the model's guess and why it was picked."""

    item_id: str
    payload: Mapping[str, Any]
    rank: int
    score: float | None  # None (or NaN): not chosen by the strategy (evaluation, audit, random)
    predicted: str | None = None
    confidence: float | None = None
    route: str | None = None  # review (guess shown), human, audit (guess kept), evaluation


Status = Literal["active", "cancelled", "quarantined"]


@dataclass(frozen=True)
class AnnotationRecord:
    """An annotation as labelloop stores it, with its Label Studio provenance."""

    annotation_id: int
    task_id: int
    labels: tuple[str, ...]
    status: Status
    annotator: str
    created_at: str
    updated_at: str
    lead_time: float | None
    note: str = ""

    def labels_json(self) -> str:
        """Return the labels as a JSON list (the state store's format)."""
        return json.dumps(list(self.labels))

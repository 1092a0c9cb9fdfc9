"""The records the state store keeps: an item on its way to Label Studio, an annotation back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AnnotationRecord", "Status", "TaskDraft"]


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

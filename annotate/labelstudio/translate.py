"""The Label Studio edge, as pure functions: labeling config, task JSON, annotation records.

Nothing here talks HTTP or touches state; the push and pull modules pass data through.
"""

from __future__ import annotations

import base64
import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

import numpy as np
from numpy.typing import NDArray

from labelloop.annotate.state.records import AnnotationRecord, Status, TaskDraft

__all__ = [
    "FROM_NAME",
    "ItemKind",
    "annotation_record",
    "choice_result",
    "image_data_uri",
    "labeling_config",
    "labels_in_config",
    "takes_several_choices",
    "task_json",
]

FROM_NAME = "label"
ItemKind = Literal["text", "image", "tabular"]
_OBJECT = {"text": ("Text", "text"), "image": ("Image", "image"), "tabular": ("Table", "table")}


def labeling_config(kind: ItemKind, labels: Sequence[str], *, multiple: bool = False) -> str:
    """Return Label Studio's XML labeling config for classifying one kind of item.

    Examples
    --------
    >>> labels_in_config(labeling_config("text", ["neg", "pos"]))
    ['neg', 'pos']
    """
    if not labels:
        raise ValueError("a labeling config needs at least one label")
    tag, name = _OBJECT[kind]
    choice = "multiple" if multiple else "single-radio"
    # Hotkeys 1-9, then 0, on the first ten choices (shown beside each in the editor).
    keys = [*"1234567890"]
    choices = "".join(
        f"<Choice value={quoteattr(str(label))}"
        + (f' hotkey="{keys[k]}"' if k < len(keys) else "")
        + "/>"
        for k, label in enumerate(labels)
    )
    return (
        f'<View><{tag} name="{name}" value="${name}"/>'
        f'<Choices name="{FROM_NAME}" toName="{name}" choice="{choice}" showInline="true">'
        f"{choices}</Choices></View>"
    )


def labels_in_config(xml: str) -> list[str]:
    """Return the Choice values of the ``label`` Choices tag of a labeling config."""
    root = ET.fromstring(xml)
    for choices in root.iter("Choices"):
        if choices.get("name") == FROM_NAME:
            return [str(c.get("value")) for c in choices.iter("Choice")]
    return []


def takes_several_choices(xml: str) -> bool:
    """Return whether the ``label`` Choices tag lets an annotator pick several choices.

    Examples
    --------
    >>> takes_several_choices(labeling_config("text", ["a", "b"], multiple=True))
    True
    >>> takes_several_choices(labeling_config("text", ["a", "b"]))
    False
    """
    root = ET.fromstring(xml)
    for choices in root.iter("Choices"):
        if choices.get("name") == FROM_NAME:
            return choices.get("choice", "single") == "multiple"
    return False


def image_data_uri(pixels: NDArray[Any], side: int, scale: int = 16) -> str:
    """Encode a flat grey image (e.g. an 8x8 digit) as an upscaled PNG data URI."""
    import matplotlib.image

    image = np.kron(
        np.asarray(pixels, dtype=np.float64).reshape(side, side), np.ones((scale, scale))
    )
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, image, cmap="gray_r", format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def choice_result(
    kind: ItemKind, choices: Sequence[str], *, names: tuple[str, str] | None = None
) -> list[dict[str, Any]]:
    """Return the ``result`` of an annotation or prediction choosing ``choices``.

    ``names`` is the ``(from_name, to_name)`` of the project's Choices tag and the
    object it labels; labelloop's own configs (``label`` on ``text``, ``image`` or
    ``table``) when omitted.

    Examples
    --------
    >>> choice_result("text", ["sport"])[0]["value"]
    {'choices': ['sport']}
    """
    from_name, to_name = names or (FROM_NAME, _OBJECT[kind][1])
    return [
        {
            "from_name": from_name,
            "to_name": to_name,
            "type": "choices",
            "value": {"choices": list(choices)},
        }
    ]


def task_json(
    draft: TaskDraft, *, kind: ItemKind, batch_id: str, strategy: str, model_version: str | None
) -> dict[str, Any]:
    """Build the task JSON for a bulk import.

    ``data`` carries the item id (the key of every reconciliation), the batch id, the
    route, and the acquisition score and rank so the Data Manager can sort by them. The
    model's guess goes in as a prediction with ``score`` = the model's confidence, except
    on ``human`` items (the model is unsure or a rule keeps the item for people) and on
    ``audit`` items (a machine label is checked blind, so the guess cannot sway it).
    """
    _, name = _OBJECT[kind]
    data: dict[str, Any] = {
        name: draft.payload[name],
        "item_id": draft.item_id,
        "labelloop_batch": batch_id,
        "acquisition_score": (
            round(float(draft.score), 6)
            if draft.score is not None and math.isfinite(draft.score)
            else None
        ),
        "acquisition_rank": draft.rank,
        "strategy": strategy,
        "labelloop_route": draft.route or ("review" if draft.predicted is not None else "human"),
    }
    task: dict[str, Any] = {"data": data}
    shown = draft.route in (None, "review")  # audits are blind; "human" means no guess
    if shown and draft.predicted is not None and model_version is not None:
        task["predictions"] = [
            {
                "model_version": model_version,
                "score": float(draft.confidence) if draft.confidence is not None else None,
                "result": choice_result(kind, [draft.predicted]),
            }
        ]
    return task


def _field(annotation: Any, key: str) -> Any:
    if isinstance(annotation, Mapping):
        return annotation.get(key)
    return getattr(annotation, key, None)


def _annotator(annotation: Any) -> str:
    completed_by = _field(annotation, "completed_by")
    if isinstance(completed_by, Mapping):
        return str(completed_by.get("email") or completed_by.get("id"))
    # Task listings give the user id, and "created_username" as "email, id".
    name = str(_field(annotation, "created_username") or "").split(",")[0].strip()
    return name or str(completed_by)


def annotation_record(
    annotation: Any,
    task_id: int,
    known_labels: Sequence[str],
    *,
    multiple: bool = False,
    from_name: str = FROM_NAME,
) -> AnnotationRecord:
    """Translate one Label Studio annotation (dict or SDK object) into a record.

    A skipped task (``was_cancelled``) is ``cancelled``, never a label. A choice the
    config does not know, no choice, or several choices in a single-label project
    (``multiple`` False) make the record ``quarantined``, with the reason in ``note``;
    it is kept, not dropped, and never trained on. Only the choices of the Choices
    tag named ``from_name`` count (``label`` in labelloop's own configs).

    Examples
    --------
    >>> chose = {"id": 7, "result": [{"from_name": "label", "value": {"choices": ["a", "b"]}}]}
    >>> record = annotation_record(chose, 3, ["a", "b"])
    >>> record.status, record.note
    ('quarantined', '2 choices in a single-label project: a, b')
    >>> annotation_record(chose, 3, ["a", "b"], multiple=True).status
    'active'
    """
    labels: list[str] = []
    for region in _field(annotation, "result") or []:
        if _field(region, "from_name") != from_name:
            continue
        value = _field(region, "value") or {}
        labels.extend(str(v) for v in (value.get("choices") or []))
    status: Status = "active"
    note = ""
    if _field(annotation, "was_cancelled"):
        status = "cancelled"
    else:
        unknown = sorted(set(labels) - set(known_labels))
        chosen = sorted(set(labels))
        if unknown:
            status, note = "quarantined", f"unknown label(s): {', '.join(unknown)}"
        elif len(chosen) > 1 and not multiple:
            status = "quarantined"
            note = f"{len(chosen)} choices in a single-label project: {', '.join(chosen)}"
        elif not labels:
            status, note = "quarantined", "no label chosen"
    lead = _field(annotation, "lead_time")
    return AnnotationRecord(
        annotation_id=int(_field(annotation, "id")),
        task_id=int(task_id),
        labels=tuple(sorted(set(labels))),
        status=status,
        annotator=_annotator(annotation),
        created_at=str(_field(annotation, "created_at")),
        updated_at=str(_field(annotation, "updated_at")),
        lead_time=float(lead) if lead is not None else None,
        note=note,
    )

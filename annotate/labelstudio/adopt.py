"""An existing Label Studio project as the pool: its labeling config and tasks, as rows.

Pure functions; the gateway fetches, :mod:`labelloop.annotate.loop.adopted` writes.
Each task becomes one item ``ls-<task id>``; text tasks keep their text, table tasks
their numeric columns, image tasks the image's address and the pixels of a small grey
thumbnail (``px_000`` ...), fetched once, so features never need the server again.
"""

from __future__ import annotations

import base64
import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelloop.annotate.errors import ConfigError, LabelStudioError, LabelStudioUnavailableError
from labelloop.annotate.labelstudio.translate import ItemKind

__all__ = [
    "ITEM_PREFIX",
    "PIXEL_PREFIX",
    "ProjectShape",
    "Rows",
    "item_of_task",
    "read_shape",
    "task_rows",
    "thumbnail_pixels",
]

ITEM_PREFIX = "ls-"
_RESERVED = frozenset({"item_id", "text", "image"})  # row keys a table column cannot take
PIXEL_PREFIX = "px_"
# Label Studio's object tags labelloop classifies, and the item kind each is.
_KINDS: dict[str, ItemKind] = {
    "text": "text",
    "hypertext": "text",
    "image": "image",
    "table": "tabular",
}


@dataclass(frozen=True)
class ProjectShape:
    """What a project labels: its Choices tag, the object it labels, and the data field.

    ``from_name`` is the Choices tag's name, ``to_name`` the object tag's, ``field`` the
    task data key the object shows (``$field`` in the config).
    """

    kind: ItemKind
    from_name: str
    to_name: str
    field: str
    labels: tuple[str, ...]
    multiple: bool


def read_shape(xml: str, *, where: str = "the project") -> ProjectShape:
    """Read what a labeling config classifies, or say in one line why labelloop cannot.

    Parameters
    ----------
    xml : str
        The project's labeling config.
    where : str
        Names the project in errors.

    Raises
    ------
    ConfigError
        No Choices tag, fewer than two choices, a Choices tag on an object labelloop does
        not classify (text, image or table), or an object not fed from a data field.

    Examples
    --------
    >>> xml = ('<View><Text name="review" value="$body"/><Choices name="mood" '
    ...        'toName="review"><Choice value="neg"/><Choice value="pos"/></Choices></View>')
    >>> shape = read_shape(xml)
    >>> shape.kind, shape.from_name, shape.to_name, shape.field, shape.labels
    ('text', 'mood', 'review', 'body', ('neg', 'pos'))
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ConfigError(f"{where}: its labeling config is not valid XML ({exc})") from None
    choices = list(root.iter("Choices"))
    if not choices:
        raise ConfigError(
            f"{where}: its labeling config has no <Choices> tag; labelloop classifies items "
            "into choices"
        )
    tag = choices[0]
    # An alias replaces the value in annotation results: it is the label.
    labels = tuple(str(c.get("alias") or c.get("value") or "") for c in tag.iter("Choice"))
    labels = tuple(label for label in labels if label)
    if len(labels) < 2:
        raise ConfigError(f"{where}: its <Choices> tag has {len(labels)} choice(s); need 2")
    from_name = str(tag.get("name") or "")
    to_name = str(tag.get("toName") or "").split(",")[0]
    objects = {str(o.get("name")): o for o in root.iter() if o.get("name") and o is not tag}
    target = objects.get(to_name)
    if target is None:
        raise ConfigError(
            f"{where}: <Choices name={from_name!r}> labels {to_name!r}, which no tag defines"
        )
    kind = _KINDS.get(target.tag.lower())
    if kind is None:
        raise ConfigError(
            f"{where}: its choices label a <{target.tag}>; labelloop classifies <Text>, "
            "<HyperText>, <Image> and <Table> items"
        )
    value = str(target.get("value") or "")
    if not value.startswith("$") or len(value) < 2:
        raise ConfigError(
            f"{where}: <{target.tag} name={to_name!r}> shows {value!r}, not a task data field"
        )
    return ProjectShape(
        kind=kind,
        from_name=from_name,
        to_name=to_name,
        field=value[1:],
        labels=labels,
        multiple=tag.get("choice", "single") == "multiple",
    )


def item_of_task(task_id: int) -> str:
    """Return the item id of a task of an adopted project.

    Examples
    --------
    >>> item_of_task(17)
    'ls-17'
    """
    return f"{ITEM_PREFIX}{int(task_id)}"


@dataclass
class Rows:
    """Pool rows made from tasks, and the tasks left out (task id -> why)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    left_out: dict[int, str] = field(default_factory=dict)

    def summary(self) -> str:
        """Say in one line which tasks were left out, if any."""
        if not self.left_out:
            return ""
        first, why = next(iter(self.left_out.items()))
        return f"{len(self.left_out)} task(s) left out (first: task {first}, {why})"


def task_rows(
    tasks: Sequence[tuple[int, Mapping[str, Any]]],
    shape: ProjectShape,
    *,
    fetch: Callable[[str], bytes] | None = None,
    image_side: int = 16,
    columns: Sequence[str] | None = None,
) -> Rows:
    """Turn ``(task id, data)`` pairs into pool rows, one per task.

    A task with no value in the shape's field, an empty text, a table missing one of
    ``columns`` (the first table's numeric columns when not given) or an image that
    cannot be read is left out, with the reason: it stays in Label Studio, labelloop
    never picks it.

    Parameters
    ----------
    tasks : sequence of (int, mapping)
        Task ids and data, as Label Studio holds them.
    shape : ProjectShape
    fetch : callable, optional
        Image address -> bytes (needed for image projects).
    image_side : int
        Pixels per side of the grey thumbnail image features are taken from.
    columns : sequence of str, optional
        The numeric columns of a table project, fixed when the project was adopted.
    """
    out = Rows()
    wanted = list(columns) if columns is not None else None
    for task_id, data in tasks:
        value = data.get(shape.field)
        row: dict[str, Any] = {"item_id": item_of_task(task_id)}
        if value is None:
            out.left_out[task_id] = f"no {shape.field!r} in its data"
            continue
        if shape.kind == "text":
            text = str(value).strip()
            if not text:
                out.left_out[task_id] = f"empty {shape.field!r}"
                continue
            row["text"] = text
        elif shape.kind == "tabular":
            numbers = _numeric_columns(value)
            if wanted is None:
                wanted = sorted(numbers)
                if not wanted:
                    out.left_out[task_id] = f"no numeric column in {shape.field!r}"
                    wanted = None
                    continue
            missing = [c for c in wanted if c not in numbers]
            if missing:
                out.left_out[task_id] = f"no number in column {missing[0]!r}"
                continue
            row.update({c: numbers[c] for c in wanted})
        else:
            if fetch is None:
                raise ValueError("an image project needs fetch")
            try:
                pixels = thumbnail_pixels(_image_bytes(str(value), fetch), image_side)
            except LabelStudioUnavailableError:
                raise  # an outage is not a bad image: the command stops, nothing written
            except (OSError, ValueError, LabelStudioError) as exc:
                out.left_out[task_id] = f"image {str(value)[:60]!r} unreadable ({exc})"
                continue
            row["image"] = str(value)
            row.update({f"{PIXEL_PREFIX}{k:03d}": float(p) for k, p in enumerate(pixels)})
        out.rows.append(row)
    return out


def _numeric_columns(value: Any) -> dict[str, float]:
    """Return a table cell's numeric entries (a mapping, or a list of one mapping)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, Mapping):
        return {}
    found: dict[str, float] = {}
    for key, cell in value.items():
        if isinstance(cell, bool):
            continue
        try:
            number = float(cell)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and str(key) not in _RESERVED:
            found[str(key)] = number
    return found


def _image_bytes(address: str, fetch: Callable[[str], bytes]) -> bytes:
    if address.startswith("data:"):
        _, _, payload = address.partition(",")
        return base64.b64decode(payload)
    return fetch(address)


def thumbnail_pixels(image: bytes, side: int) -> NDArray[np.float64]:
    """Return the grey levels (0 to 1) of a ``side`` x ``side`` thumbnail, row by row."""
    from PIL import Image

    with Image.open(io.BytesIO(image)) as opened:
        grey = opened.convert("L").resize((side, side), Image.Resampling.BILINEAR)
        return np.asarray(grey, dtype=np.float64).ravel() / 255.0

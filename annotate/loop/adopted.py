"""Adopting an existing Label Studio project: its tasks become the pool, labelled in place.

``labelloop init NAME --label-studio-project ID`` reads the project's labeling config
and tasks, writes their copy (``NAME.tasks.jsonl``, beside the config) and a config
whose ``label_studio`` section names the project. Every command that connects then
adds the tasks created since to that copy (:func:`sync_in_place`), so they join the
pool; tasks deleted in Label Studio leave it at the next pull.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelloop.annotate.config.schema import ProjectConfig
from labelloop.annotate.errors import ConfigError, LabelStudioError
from labelloop.annotate.labelstudio.adopt import (
    ITEM_PREFIX,
    PIXEL_PREFIX,
    ProjectShape,
    Rows,
    read_shape,
    task_rows,
)
from labelloop.annotate.labelstudio.client import LabelStudioGateway
from labelloop.annotate.state.store import StateStore
from labelloop.datasets import Pool

__all__ = ["Adopted", "adopt_project", "check_adopted", "sync_in_place", "task_of_item"]

SYNCED_KEY = "in_place_synced_to"  # the highest task id added to the in-place map


@dataclass(frozen=True)
class Adopted:
    """What ``init --label-studio-project`` found and wrote."""

    config_path: Path
    tasks_path: Path
    title: str
    shape: ProjectShape
    rows: Rows
    columns: tuple[str, ...]


def task_of_item(item_id: str) -> int:
    """Return the task id of an adopted project's item (``ls-17`` -> 17)."""
    return int(item_id.removeprefix(ITEM_PREFIX))


def adopt_project(
    gateway: LabelStudioGateway,
    project_id: int,
    name: str,
    *,
    configs_dir: Path = Path("configs"),
    image_side: int = 16,
    force: bool = False,
) -> Adopted:
    """Write ``configs_dir/NAME.yaml`` and the tasks' copy for an existing project.

    Raises
    ------
    ConfigError
        The config exists (without ``force``), or the project's labeling config is not a
        classification labelloop can run, or no task has something to learn from.
    LabelStudioError
        The project is not there, or Label Studio cannot be reached.
    """
    from labelloop.annotate.config.writer import default_settings, save_config

    target = configs_dir / f"{name}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target}: config exists already; pass --force to replace it")
    title, xml = gateway.project_config(project_id)
    where = f"Label Studio project {project_id} ({title!r})"
    shape = read_shape(xml, where=where)
    tasks = gateway.task_data(project_id)
    rows = task_rows(tasks, shape, fetch=gateway.fetch, image_side=image_side)
    if not rows.rows:
        why = f": {rows.summary()}" if rows.left_out else ""
        raise ConfigError(f"{where} has no task labelloop can learn from{why}")
    columns = tuple(c for c in rows.rows[0] if c not in ("item_id", "text", "image"))
    tasks_path = configs_dir / f"{name}.tasks.jsonl"
    _write_rows(tasks_path, rows.rows, append=False)
    text = shape.kind == "text"
    data: dict[str, Any] = {
        "source": os.path.relpath(tasks_path.resolve(), configs_dir.resolve()),
        "id_column": "item_id",
        "text_column": "text" if text else None,
        "feature_columns": [] if text else list(columns),
    }
    settings = default_settings(
        name, data, text=text, n_classes=len(shape.labels), n_items=len(rows.rows)
    )
    if shape.kind == "image":
        settings["featurizer"] = {"kind": "numeric", "scale": False}  # grey levels, 0 to 1
    settings["labelling"] = {
        "kind": shape.kind,
        "labels": list(shape.labels),
        "multiple": shape.multiple,
    }
    settings["label_studio"] = {
        "project_id": project_id,
        "from_name": shape.from_name,
        "to_name": shape.to_name,
        "field": shape.field,
        "image_side": image_side,
    }
    header = (
        f"# labelloop project config for Label Studio project {project_id} ({title}); "
        "written by `labelloop init`.\n# Its tasks are labelled in place; "
        f"{tasks_path.name} is their copy (new tasks are added by the next command).\n"
    )
    save_config(target, settings, header)
    return Adopted(target, tasks_path, title, shape, rows, columns)


def check_adopted(config: ProjectConfig, gateway: LabelStudioGateway, labels: list[str]) -> None:
    """Check the project is still there and labels what the config says.

    Raises
    ------
    LabelStudioError
        The project is gone, or its choices, Choices tag or object changed.
    """
    adopted = config.label_studio
    assert adopted is not None
    title, xml = gateway.project_config(adopted.project_id)
    where = f"Label Studio project {adopted.project_id} ({title!r})"
    try:
        shape = read_shape(xml, where=where)
    except ConfigError as exc:
        raise LabelStudioError(str(exc)) from None
    if (shape.from_name, shape.to_name, shape.field) != (
        adopted.from_name,
        adopted.to_name,
        adopted.field,
    ):
        raise LabelStudioError(
            f"{where} now labels <{shape.to_name}> (${shape.field}) with "
            f"<Choices name={shape.from_name!r}>, the config says {adopted.from_name!r} on "
            f"{adopted.to_name!r} (${adopted.field}); run `labelloop init "
            f"{config.name} --label-studio-project {adopted.project_id} --force` again"
        )
    if sorted(shape.labels) != sorted(labels):
        raise LabelStudioError(
            f"{where} has labels [{', '.join(sorted(shape.labels))}] but the config says "
            f"[{', '.join(sorted(labels))}]"
        )
    if shape.multiple != config.labelling.multiple:
        takes = "several choices" if shape.multiple else "one choice"
        raise LabelStudioError(
            f"{where} takes {takes} per item but the config says labelling.multiple: "
            f"{str(config.labelling.multiple).lower()}"
        )


def sync_in_place(
    config: ProjectConfig, pool: Pool, gateway: LabelStudioGateway, state: StateStore
) -> tuple[Pool, Rows]:
    """Add the tasks created since the last command to the pool's copy and the state.

    Returns
    -------
    (pool, rows)
        The pool, reloaded when tasks were added, and the rows added (with the tasks
        left out and why).
    """
    from labelloop.annotate.loop.features import load_project_pool

    adopted = config.label_studio
    assert adopted is not None
    ids = pool.ids.tolist()
    last = max((task_of_item(i) for i in ids if str(i).startswith(ITEM_PREFIX)), default=0)
    shape = ProjectShape(
        kind=config.labelling.kind if config.labelling.kind != "auto" else "text",
        from_name=adopted.from_name,
        to_name=adopted.to_name,
        field=adopted.field,
        labels=tuple(config.labelling.labels or ()),
        multiple=config.labelling.multiple,
    )
    columns = list(config.data.feature_columns) if shape.kind == "tabular" else None
    new = gateway.task_data(adopted.project_id, after=last)
    rows = task_rows(
        new, shape, fetch=gateway.fetch, image_side=adopted.image_side, columns=columns
    )
    if shape.kind == "image":
        expected = {f"{PIXEL_PREFIX}{k:03d}" for k in range(adopted.image_side**2)}
        rows.rows = [r for r in rows.rows if expected <= set(r)]
    if rows.rows:
        _write_rows(config.data_path(), rows.rows, append=True)
        pool = load_project_pool(config)
    synced = int(state.get_meta(SYNCED_KEY) or 0)
    joined = {
        str(i): task_of_item(str(i))
        for i in pool.ids.tolist()
        if str(i).startswith(ITEM_PREFIX) and task_of_item(str(i)) > synced
    }
    if joined:
        state.add_in_place(joined)
        state.set_meta(SYNCED_KEY, str(max(joined.values())))
    return pool, rows


def _write_rows(path: Path, rows: list[dict[str, Any]], *, append: bool) -> None:
    """Write (or add) JSON lines; the file is replaced whole, never left half written."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if append:
        lines = path.read_text(encoding="utf-8") + lines
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(lines, encoding="utf-8")
    partial.replace(path)

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
from collections.abc import Iterator
from contextlib import contextmanager
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
from labelloop.annotate.labelstudio.server import write_private
from labelloop.annotate.labelstudio.sync import SYNCED_KEY
from labelloop.annotate.state.store import StateStore
from labelloop.datasets import Pool

__all__ = [
    "Adopted",
    "adopt_project",
    "check_adopted",
    "has_new_tasks",
    "sync_in_place",
    "task_of_item",
]


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
    if shape.multiple:
        raise ConfigError(
            f"{where}: its <Choices name={shape.from_name!r}> takes several choices per "
            "task; labelloop adopts single-choice projects only"
        )
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
    # The budget counts every label: those the team made before come on top of 500.
    gateway.whole_project = True
    labelled = gateway.counts(project_id).annotations
    settings["budget"] = min(len(rows.rows), labelled + 500)
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
    shown = " ".join(title.split())  # a title never breaks the YAML comment
    header = (
        f"# labelloop project config for Label Studio project {project_id} ({shown!r}); "
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
    n_pixels = len(config.data.feature_columns)
    if shape.kind == "image" and n_pixels != adopted.image_side**2:
        raise ConfigError(
            f"label_studio.image_side: {adopted.image_side}, but the tasks' copy holds "
            f"{n_pixels} pixel columns ({PIXEL_PREFIX}...); the side is fixed when "
            "`init` adopts the project"
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

    Held under a lock on the copy, so two commands syncing at once add each task once.
    Tasks left out (nothing to learn from) are named once, never fetched again.

    Returns
    -------
    (pool, rows)
        The pool, reloaded when tasks were added, and the rows added (with the tasks
        left out and why).
    """
    from labelloop.annotate.loop.features import load_project_pool

    adopted = config.label_studio
    assert adopted is not None
    path = config.data_path()
    with _locked(path):
        present = _ids_in(path)
        synced = int(state.get_meta(SYNCED_KEY) or 0)
        last = max([synced, *(task_of_item(i) for i in present)])
        new = gateway.task_data(adopted.project_id, after=last)
        shape = _shape_of(config)
        columns = list(config.data.feature_columns) if shape.kind == "tabular" else None
        rows = task_rows(
            new, shape, fetch=gateway.fetch, image_side=adopted.image_side, columns=columns
        )
        rows.rows = [r for r in rows.rows if r["item_id"] not in present]
        if rows.rows:
            _write_rows(path, rows.rows, append=True)
            present |= {str(r["item_id"]) for r in rows.rows}
        reached = max([last, *(task for task, _ in new)])
        joined = {i: task_of_item(i) for i in present if task_of_item(i) > synced}
        if joined or reached > synced:
            state.add_in_place(joined, synced_to=reached)
    if rows.rows:
        pool = load_project_pool(config)
    return pool, rows


def has_new_tasks(config: ProjectConfig, gateway: LabelStudioGateway, state: StateStore) -> bool:
    """Return whether the project holds tasks created since the last sync (one request)."""
    adopted = config.label_studio
    assert adopted is not None
    return gateway.count_tasks_after(adopted.project_id, int(state.get_meta(SYNCED_KEY) or 0)) > 0


def _shape_of(config: ProjectConfig) -> ProjectShape:
    adopted = config.label_studio
    assert adopted is not None
    return ProjectShape(
        kind=config.labelling.kind if config.labelling.kind != "auto" else "text",
        from_name=adopted.from_name,
        to_name=adopted.to_name,
        field=adopted.field,
        labels=tuple(config.labelling.labels or ()),
        multiple=config.labelling.multiple,
    )


def _ids_in(path: Path) -> set[str]:
    """Return the item ids the tasks' copy holds."""
    if not path.is_file():
        raise ConfigError(f"{path}: the copy of the project's tasks is missing; run init again")
    with path.open(encoding="utf-8") as lines:
        return {str(json.loads(line)["item_id"]) for line in lines if line.strip()}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``path`` (waits for another command's sync)."""
    import fcntl

    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_rows(path: Path, rows: list[dict[str, Any]], *, append: bool) -> None:
    """Write (or add) JSON lines; the file is replaced whole, never left half written."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if append:
        lines = path.read_text(encoding="utf-8") + lines
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, lines)  # mode 0600, like the rest of the work dir's copies

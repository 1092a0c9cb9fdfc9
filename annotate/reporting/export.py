"""`labelloop export`: the labelled dataset, each label with where it came from."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from labelloop.annotate.loop.project import LabellingProject

__all__ = ["EXPORT_COLUMNS", "ExportFormat", "export_frame", "read_export", "write_export"]

ExportFormat = Literal["csv", "parquet", "jsonl"]
EXPORT_COLUMNS = (
    "item_id",
    "label",
    "source",
    "annotators",
    "n_annotations",
    "agreement",
    "model_version",
    "confidence",
    "predicted",
    "evaluation",
)


def export_frame(project: LabellingProject) -> tuple[pd.DataFrame, dict[str, int]]:
    """Build the labelled dataset: human and consensus labels, then machine labels.

    A human label wins over a machine label for the same item. ``source`` is ``human``
    (one annotation), ``consensus`` (two or more, majority vote) or ``machine``.
    ``model_version``/``confidence``/``predicted`` are the model's guess: the machine
    label itself, or the last guess made for a human-labelled item (empty if none).
    ``annotators`` is a ``;``-separated list.

    Returns
    -------
    (frame, counts)
        ``counts`` has ``tied`` (items held back: their annotators disagree evenly) and
        ``waiting`` (items in Label Studio with no label yet).
    """
    state = project.state
    resolved = state.resolutions()
    evaluation = state.eval_items()
    people: dict[str, set[str]] = defaultdict(set)
    for row in state.annotation_rows():
        if row["status"] == "active":
            people[row["item_id"]].add(str(row["annotator"]))
    guesses: dict[str, dict[str, Any]] = {}
    for row in state.prediction_outcomes():
        guesses[row["item_id"]] = row  # the latest guess wins
    records: list[dict[str, Any]] = []
    for item, outcome in sorted(resolved.items()):
        if outcome.label is None:
            continue
        guess = guesses.get(item, {})
        records.append(
            {
                "item_id": item,
                "label": outcome.label,
                "source": "consensus" if outcome.n_annotations > 1 else "human",
                "annotators": ";".join(sorted(people[item])),
                "n_annotations": outcome.n_annotations,
                "agreement": outcome.agreement,
                "model_version": guess.get("model_version"),
                "confidence": guess.get("confidence"),
                "predicted": guess.get("predicted"),
                "evaluation": item in evaluation,
            }
        )
    labelled = {r["item_id"] for r in records}
    pushed = set(state.task_map())
    for item, route in sorted(state.routes("auto").items()):
        if route["route"] != "auto" or item in labelled or item in pushed:
            continue
        records.append(
            {
                "item_id": item,
                "label": route["predicted"],
                "source": "machine",
                "annotators": "",
                "n_annotations": 0,
                "agreement": None,
                "model_version": route["model_version"],
                "confidence": route["confidence"],
                "predicted": route["predicted"],
                "evaluation": False,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(EXPORT_COLUMNS))
    frame = frame.astype(
        {
            "item_id": "string",
            "label": "string",
            "source": "string",
            "annotators": "string",
            "n_annotations": "int64",
            "agreement": "float64",
            "model_version": "string",
            "confidence": "float64",
            "predicted": "string",
            "evaluation": "bool",
        }
    )
    annotated = {
        r["item_id"]
        for r in state.annotation_rows()
        if r["status"] != "deleted" and not r["retired"]
    }
    counts = {
        "tied": sum(1 for r in resolved.values() if r.tie),
        "waiting": len(pushed - annotated - labelled),
    }
    return frame, counts


def write_export(frame: pd.DataFrame, path: Path, fmt: ExportFormat) -> Path:
    """Write ``frame`` as CSV, Parquet or JSON Lines, atomically (no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if fmt == "csv":
        frame.to_csv(partial, index=False)
    elif fmt == "parquet":
        frame.to_parquet(partial, index=False)
    else:
        frame.to_json(partial, orient="records", lines=True, force_ascii=False)
    os.replace(partial, path)
    return path


def read_export(path: Path) -> pd.DataFrame:
    """Read an export back (by its suffix) with the column types it was written with."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix == ".jsonl":
        frame = pd.read_json(path, orient="records", lines=True, dtype=False)
    else:
        frame = pd.read_csv(path, dtype={"item_id": str, "label": str}, keep_default_na=False)
        for column in ("agreement", "confidence"):
            frame[column] = pd.to_numeric(frame[column].replace("", None), errors="coerce")
        frame["evaluation"] = frame["evaluation"].astype(str) == "True"
    for column in ("item_id", "label", "source", "annotators", "model_version", "predicted"):
        values = frame[column].astype("string")
        frame[column] = values.mask(values == "")
    return frame

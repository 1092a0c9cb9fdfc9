"""The state store: a file written before routing existed opens and keeps its batches."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from labelloop.annotate.errors import LabelloopError
from labelloop.annotate.state.records import TaskDraft
from labelloop.annotate.state.store import StateStore

OLD_BATCH_ITEMS = """
CREATE TABLE batches (
    batch_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, strategy TEXT NOT NULL,
    model_version TEXT, status TEXT NOT NULL CHECK (status IN ('pending', 'pushed')),
    n_items INTEGER NOT NULL);
CREATE TABLE batch_items (
    batch_id TEXT NOT NULL REFERENCES batches, item_id TEXT NOT NULL, rank INTEGER NOT NULL,
    score REAL, predicted TEXT, confidence REAL, PRIMARY KEY (batch_id, item_id));
INSERT INTO batches VALUES ('batch-00001', '2026-01-01T00:00:00+00:00', 'margin', 'm:v1',
    'pushed', 1);
INSERT INTO batch_items VALUES ('batch-00001', 'item-1', 1, 0.4, 'sports', 0.6);
"""


def test_a_state_file_from_before_routing_opens_and_keeps_its_guesses(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_BATCH_ITEMS)
    db.close()
    state = StateStore(path)
    try:
        (row,) = state.batch_items("batch-00001")
        assert row["predicted"] == "sports" and row["route"] is None
        # An old guess counts as a shown pre-annotation (it was shown then).
        (outcome,) = state.prediction_outcomes()
        assert outcome["route"] == "review" and outcome["model_version"] == "m:v1"
        state.record_batch(
            "batch-00002", [TaskDraft("item-2", {}, 1, 0.1, "tech", 0.9, "audit")], "margin", None
        )
        assert state.batch_items("batch-00002")[0]["route"] == "audit"
    finally:
        state.close()
    StateStore(path).close()  # opening again does not migrate twice


def test_a_second_task_for_a_mapped_item_is_refused_not_hidden(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    try:
        state.record_batch("batch-00001", [TaskDraft("item-1", {}, 1, 0.1)], "margin", None)
        state.confirm_push("batch-00001", {"item-1": 11})
        state.confirm_push("batch-00001", {"item-1": 11})  # the same mapping again: a no-op
        state.record_batch("batch-00002", [TaskDraft("item-2", {}, 1, 0.1)], "margin", None)
        with pytest.raises(LabelloopError, match=r"'item-1' is already mapped to .* 11"):
            state.confirm_push("batch-00002", {"item-2": 12, "item-1": 13})
        with pytest.raises(LabelloopError, match="refusing to map item 'item-2' to task 11"):
            state.confirm_push("batch-00002", {"item-2": 11})
        # Nothing of the refused pushes was stored; the batch is still pending.
        assert state.task_map() == {"item-1": 11}
        assert state.pending_batch() == "batch-00002"
    finally:
        state.close()


def test_accepting_changed_data_retires_labels_on_tasks_the_map_does_not_hold(
    tmp_path: Path,
) -> None:
    from labelloop.annotate.state.records import AnnotationRecord

    state = StateStore(tmp_path / "state.sqlite")
    state.record_batch("batch-00001", [TaskDraft("a", {}, 1, 0.5)], "margin", None)
    state.confirm_push("batch-00001", {"a": 10})

    def vote(annotation: int, task: int) -> AnnotationRecord:
        return AnnotationRecord(annotation, task, ("x",), "active", "p", "t", "t", None)

    with state.transaction() as db:
        state.upsert_annotation(db, vote(1, 10), "a")  # the mapped task
        state.upsert_annotation(
            db, vote(2, 11), "a"
        )  # a second task of the item, kept for its label
    assert state.resolutions()["a"].label == "x"
    state.accept_data({"a": "new digest"}, changed=["a"], removed=[])
    assert "a" not in state.resolutions()  # no label given on the old text still counts
    state.close()


def test_queueing_an_item_twice_is_a_one_line_labelloop_error(tmp_path: Path) -> None:
    from labelloop.annotate.labelstudio.sync import prepare_batch

    state = StateStore(tmp_path / "state.sqlite")
    try:
        prepare_batch(
            state, [TaskDraft("item-1", {}, 1, 0.1)], strategy="margin", model_version=None
        )
        with pytest.raises(LabelloopError, match=r"item 'item-1' is already queued .*\(1 such\)"):
            prepare_batch(
                state,
                [TaskDraft("item-2", {}, 1, 0.1), TaskDraft("item-1", {}, 2, 0.2)],
                strategy="margin",
                model_version=None,
            )
        assert state.pending_batch() == "batch-00001"  # the refused batch was not recorded
    finally:
        state.close()

"""The state store: one SQLite file per project; every step is one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labelloop.annotate.errors import TaskMapConflictError
from labelloop.annotate.state.records import AnnotationRecord, TaskDraft

__all__ = ["Resolution", "StateStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, strategy TEXT NOT NULL,
    model_version TEXT, status TEXT NOT NULL CHECK (status IN ('pending', 'pushed')),
    n_items INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id TEXT NOT NULL REFERENCES batches, item_id TEXT NOT NULL, rank INTEGER NOT NULL,
    score REAL, predicted TEXT, confidence REAL, route TEXT,
    PRIMARY KEY (batch_id, item_id));
CREATE TABLE IF NOT EXISTS tasks (
    item_id TEXT PRIMARY KEY, task_id INTEGER NOT NULL UNIQUE, batch_id TEXT,
    pushed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deleted_tasks (
    task_id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, batch_id TEXT, pushed_at TEXT NOT NULL,
    deleted_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS annotations (
    annotation_id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, item_id TEXT NOT NULL,
    labels TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'cancelled', 'quarantined', 'deleted')),
    annotator TEXT, created_at TEXT, updated_at TEXT, lead_time REAL, note TEXT,
    pulled_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS annotations_by_task ON annotations (task_id);
CREATE TABLE IF NOT EXISTS eval_items (item_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS cycles (
    cycle INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('started', 'logged', 'pushed')),
    n_labels INTEGER, metrics TEXT, model_version TEXT, run_id TEXT, labels_hash TEXT,
    batch_id TEXT);
CREATE TABLE IF NOT EXISTS routes (
    item_id TEXT PRIMARY KEY, route TEXT NOT NULL CHECK (route IN ('auto', 'review', 'human')),
    predicted TEXT, confidence REAL, eligible INTEGER NOT NULL, reason TEXT NOT NULL,
    model_version TEXT, cycle INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, action TEXT NOT NULL,
    task_ids TEXT NOT NULL, handled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS in_place (item_id TEXT PRIMARY KEY, task_id INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS fingerprints (item_id TEXT PRIMARY KEY, digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS retired_tasks (
    task_id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, batch_id TEXT, pushed_at TEXT NOT NULL,
    retired_at TEXT NOT NULL, reason TEXT NOT NULL CHECK (reason IN ('changed', 'removed')));
"""
# An annotation counts only while its task is live: the tasks of items whose data
# changed or went away are retired, and their annotations stay as history.
_LIVE = "task_id NOT IN (SELECT task_id FROM retired_tasks)"


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """Return a query's rows as dicts keyed by column name."""
    keys = [c[0] for c in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def now() -> str:
    """Return the current UTC time as ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Resolution:
    """The label of one item after resolving all its annotations (majority vote)."""

    item_id: str
    label: str | None
    n_annotations: int
    agreement: float
    tie: bool


class StateStore:
    """A project's state: task map, batches, annotations with provenance, events.

    Parameters
    ----------
    path : Path
        The SQLite file (created with its folder if missing).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = StateStore(pathlib.Path(tempfile.mkdtemp()) / "state.sqlite")
    >>> store.get_meta("project_id") is None
    True
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(batch_items)")}
        if "route" not in columns:  # a state file from before routing existed
            self._db.execute("ALTER TABLE batch_items ADD COLUMN route TEXT")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """Read a setting (project id, pull cursor, ...)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str, db: sqlite3.Connection | None = None) -> None:
        """Write a setting (inside the caller's transaction when ``db`` is given)."""
        (db or self._db).execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- batches and the task map -------------------------------------------------
    def pending_batch(self) -> str | None:
        """Return the id of a batch recorded but not confirmed pushed, if any."""
        row = self._db.execute(
            "SELECT batch_id FROM batches WHERE status = 'pending' ORDER BY created_at LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def record_batch(
        self,
        batch_id: str,
        drafts: Sequence[TaskDraft],
        strategy: str,
        model_version: str | None,
        db: sqlite3.Connection | None = None,
    ) -> None:
        """Record a batch as pending, before anything is sent to Label Studio.

        Inside the caller's transaction when ``db`` is given, else in one of its own.
        """
        if db is None:
            with self.transaction() as own:
                self.record_batch(batch_id, drafts, strategy, model_version, own)
            return
        db.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, 'pending', ?)",
            (batch_id, now(), strategy, model_version, len(drafts)),
        )
        db.executemany(
            "INSERT INTO batch_items VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (batch_id, d.item_id, d.rank, d.score, d.predicted, d.confidence, d.route)
                for d in drafts
            ],
        )

    def drop_from_batch(self, batch_id: str, item_ids: Sequence[str]) -> None:
        """Take items out of a pending batch (their task is gone); nothing else changes."""
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM batch_items WHERE batch_id = ? AND item_id = ?",
                [(batch_id, i) for i in item_ids],
            )
            db.execute(
                "UPDATE batches SET n_items = (SELECT COUNT(*) FROM batch_items "
                "WHERE batch_id = ?) WHERE batch_id = ?",
                (batch_id, batch_id),
            )

    def batch_items(self, batch_id: str) -> list[dict[str, Any]]:
        """Return a batch's items in rank order."""
        rows = self._db.execute(
            "SELECT item_id, rank, score, predicted, confidence, route FROM batch_items "
            "WHERE batch_id = ? ORDER BY rank",
            (batch_id,),
        ).fetchall()
        keys = ("item_id", "rank", "score", "predicted", "confidence", "route")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def batch_info(self, batch_id: str) -> tuple[str, str | None]:
        """Return a batch's strategy and model version."""
        row = self._db.execute(
            "SELECT strategy, model_version FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return str(row[0]), row[1]

    def confirm_push(self, batch_id: str, task_ids: dict[str, int]) -> None:
        """Store the item -> task map of a batch and mark it pushed, atomically.

        Recording a mapping already stored is a no-op; an item already mapped to another
        task, or a task already mapped to another item, is refused and nothing is stored.

        Raises
        ------
        TaskMapConflictError
            If an item would map to a second task, or a task to a second item.
        """
        with self.transaction() as db:
            for item, task in task_ids.items():
                for known_item, known_task in db.execute(
                    "SELECT item_id, task_id FROM tasks WHERE item_id = ? OR task_id = ?",
                    (item, task),
                ):
                    if (known_item, known_task) != (item, task):
                        raise TaskMapConflictError(
                            f"item {known_item!r} is already mapped to Label Studio task "
                            f"{known_task}; refusing to map item {item!r} to task {task} "
                            f"(batch {batch_id})"
                        )
            stamp = now()
            db.executemany(
                "INSERT INTO tasks VALUES (?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING",
                [(item, task, batch_id, stamp) for item, task in task_ids.items()],
            )
            db.execute("UPDATE batches SET status = 'pushed' WHERE batch_id = ?", (batch_id,))

    def task_map(self) -> dict[str, int]:
        """Return item id -> Label Studio task id for every pushed item."""
        return {str(i): int(t) for i, t in self._db.execute("SELECT item_id, task_id FROM tasks")}

    def open_tasks(self) -> list[dict[str, Any]]:
        """Return labelloop's tasks that nobody has labelled yet, skipped ones included.

        Each row holds ``item_id``, ``task_id``, its ``batch_id`` and ``rank`` in it, the
        ``route`` the item was pushed on
        (``None`` without routing), the guess ``predicted`` shown with it at the push
        (``None`` when none was shown) and its acquisition ``score`` (``None`` when the
        strategy did not choose it), in task order.
        """
        return _dicts(
            self._db.execute(
                "SELECT t.item_id, t.task_id, t.batch_id, bi.rank, bi.route, bi.score, "
                "CASE WHEN bi.route IS NULL OR "
                "bi.route = 'review' THEN bi.predicted END AS predicted "
                "FROM tasks t LEFT JOIN batch_items bi "
                "ON bi.batch_id = t.batch_id AND bi.item_id = t.item_id "
                "WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.task_id = t.task_id "
                "AND a.status IN ('active', 'quarantined')) "
                "AND t.task_id NOT IN (SELECT task_id FROM retired_tasks) ORDER BY t.task_id"
            )
        )

    def in_place(self) -> dict[str, int]:
        """Return item id -> task id of an adopted project's tasks (labelled in place)."""
        rows = self._db.execute("SELECT item_id, task_id FROM in_place")
        return {str(i): int(t) for i, t in rows}

    def add_in_place(self, task_ids: Mapping[str, int], *, synced_to: int) -> None:
        """Record tasks of an adopted project that joined the pool, and how far it looked.

        One transaction: ``in_place_synced_to`` (the highest task id taken in or left
        out) moves with the tasks it covers.
        """
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO in_place VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(str(i), int(t)) for i, t in task_ids.items()],
            )
            self.set_meta("in_place_synced_to", str(int(synced_to)), db)

    def item_of_task(self) -> dict[int, str]:
        """Return task id -> item id for every task the project knows (pushed or in place)."""
        rows = self._db.execute(
            "SELECT task_id, item_id FROM tasks UNION SELECT task_id, item_id FROM in_place"
        )
        return {int(t): str(i) for t, i in rows}

    def queued_item_ids(self) -> set[str]:
        """Return items pushed or in a pending batch: never to be pushed again."""
        rows = self._db.execute(
            "SELECT item_id FROM tasks UNION SELECT bi.item_id FROM batch_items bi "
            "JOIN batches b USING (batch_id) WHERE b.status = 'pending'"
        )
        return {str(r[0]) for r in rows}

    # -- annotations --------------------------------------------------------------
    def annotations_of_tasks(
        self, task_ids: Iterable[int]
    ) -> dict[int, dict[int, tuple[str, str]]]:
        """Return task id -> {annotation id: (status, updated_at)} for stored annotations."""
        out: dict[int, dict[int, tuple[str, str]]] = {}
        ids = list(task_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT task_id, annotation_id, status, updated_at FROM annotations "
                f"WHERE task_id IN ({marks})",
                chunk,
            )
            for task, annotation, status, updated in rows:
                out.setdefault(int(task), {})[int(annotation)] = (str(status), str(updated))
        return out

    def upsert_annotation(
        self, db: sqlite3.Connection, record: AnnotationRecord, item_id: str
    ) -> None:
        """Insert or replace one annotation (inside a pull's transaction)."""
        db.execute(
            "INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (annotation_id) DO UPDATE SET labels = excluded.labels, "
            "status = excluded.status, annotator = excluded.annotator, "
            "updated_at = excluded.updated_at, lead_time = excluded.lead_time, "
            "note = excluded.note, pulled_at = excluded.pulled_at",
            (
                record.annotation_id,
                record.task_id,
                item_id,
                record.labels_json(),
                record.status,
                record.annotator,
                record.created_at,
                record.updated_at,
                record.lead_time,
                record.note,
                now(),
            ),
        )

    def mark_deleted(self, db: sqlite3.Connection, annotation_ids: Iterable[int]) -> None:
        """Mirror deletions: the rows stay, with status ``deleted``."""
        db.executemany(
            "UPDATE annotations SET status = 'deleted', pulled_at = ? WHERE annotation_id = ?",
            [(now(), a) for a in annotation_ids],
        )

    def mark_tasks_deleted(self, db: sqlite3.Connection, task_ids: Iterable[int]) -> int:
        """Mirror tasks deleted in Label Studio; return how many annotations that deleted.

        Each task leaves the task map for ``deleted_tasks`` (so its item is no longer
        queued and a later batch may pick it again); its annotations stay, ``deleted``.
        """
        stamp = now()
        deleted = 0
        for task in task_ids:
            db.execute(
                "INSERT OR REPLACE INTO deleted_tasks SELECT task_id, item_id, batch_id, "
                "pushed_at, ? FROM tasks WHERE task_id = ?",
                (stamp, task),
            )
            db.execute("DELETE FROM tasks WHERE task_id = ?", (task,))
            db.execute("DELETE FROM in_place WHERE task_id = ?", (task,))
            deleted += db.execute(
                "UPDATE annotations SET status = 'deleted', pulled_at = ? "
                "WHERE task_id = ? AND status != 'deleted'",
                (stamp, task),
            ).rowcount
        return deleted

    def live_annotation_ids(self) -> set[int]:
        """Return the ids of stored annotations and skips that are not deleted."""
        rows = self._db.execute("SELECT annotation_id FROM annotations WHERE status != 'deleted'")
        return {int(r[0]) for r in rows}

    def live_counts(self) -> tuple[int, int, int]:
        """Return what the state believes Label Studio holds, to compare with its counters.

        Returns
        -------
        (tasks, annotations, skipped tasks)
            Tasks in the task map or in place (an adopted project's); annotations that
            are not skips nor deleted (quarantined ones count: Label Studio holds them);
            tasks with at least one skip.
        """
        tasks = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT task_id FROM tasks UNION SELECT task_id FROM in_place)"
        ).fetchone()[0]
        annotations, skipped = self._db.execute(
            "SELECT COUNT(*) FILTER (WHERE status IN ('active', 'quarantined')), "
            "COUNT(DISTINCT task_id) FILTER (WHERE status = 'cancelled') FROM annotations"
        ).fetchone()
        return int(tasks), int(annotations), int(skipped)

    def annotation_rows(self) -> list[dict[str, Any]]:
        """Return every stored annotation, oldest first.

        ``retired`` is true for history: an annotation of an item whose data changed or
        went away after it was labelled (see :meth:`accept_data`); it no longer counts.
        """
        cursor = self._db.execute(
            "SELECT annotation_id, task_id, item_id, labels, status, annotator, created_at, "
            f"updated_at, note, NOT ({_LIVE}) AS retired FROM annotations ORDER BY annotation_id"
        )
        rows = _dicts(cursor)
        for row in rows:
            row["labels"] = json.loads(row["labels"])
            row["retired"] = bool(row["retired"])
        return rows

    def resolutions(self) -> dict[str, Resolution]:
        """Resolve each item's active annotations by majority vote; ties are held back.

        ``agreement`` is the share of the item's annotations that chose the majority
        label (1.0 for a single annotation). A multi-label annotation votes for its
        whole label set.
        """
        votes: dict[str, list[str]] = {}
        for item, labels in self._db.execute(
            f"SELECT item_id, labels FROM annotations WHERE status = 'active' AND {_LIVE}"
        ):
            votes.setdefault(str(item), []).append("|".join(json.loads(labels)))
        out: dict[str, Resolution] = {}
        for item, cast in votes.items():
            ranked = Counter(cast).most_common()
            top, count = ranked[0]
            tie = len(ranked) > 1 and ranked[1][1] == count
            out[item] = Resolution(item, None if tie else top, len(cast), count / len(cast), tie)
        return out

    # -- evaluation set and cycles ------------------------------------------------
    def eval_items(self) -> set[str]:
        """Return the evaluation item ids (drawn once)."""
        return {str(r[0]) for r in self._db.execute("SELECT item_id FROM eval_items")}

    def eval_order(self) -> list[str]:
        """Return the evaluation item ids in the order they were drawn."""
        return [
            str(r[0]) for r in self._db.execute("SELECT item_id FROM eval_items ORDER BY rowid")
        ]

    def set_eval_items(self, item_ids: Sequence[str]) -> None:
        """Record the evaluation set; refuses to redraw one that exists."""
        with self.transaction() as db:
            if db.execute("SELECT COUNT(*) FROM eval_items").fetchone()[0]:
                raise ValueError("the evaluation set is drawn once and exists already")
            db.executemany("INSERT INTO eval_items VALUES (?)", [(i,) for i in item_ids])

    def open_cycle(self) -> tuple[int, str, dict[str, Any]]:
        """Return the cycle to work on: an unfinished one to resume, else a new one.

        Returns
        -------
        (cycle number, status, row)
        """
        row = self._db.execute(
            "SELECT cycle, status, run_id, model_version, n_labels, metrics, batch_id FROM cycles "
            "ORDER BY cycle DESC LIMIT 1"
        ).fetchone()
        if row is not None and row[1] != "pushed":
            keys = ("cycle", "status", "run_id", "model_version", "n_labels", "metrics", "batch_id")
            record = dict(zip(keys, row, strict=True))
            record["metrics"] = json.loads(record["metrics"] or "{}")
            return int(row[0]), str(row[1]), record
        number = 1 if row is None else int(row[0]) + 1
        with self.transaction() as db:
            db.execute(
                "INSERT INTO cycles (cycle, started_at, status) VALUES (?, ?, 'started')",
                (number, now()),
            )
        return number, "started", {"cycle": number}

    def cycle_logged(
        self,
        cycle: int,
        *,
        n_labels: int,
        metrics: dict[str, float],
        model_version: str | None,
        run_id: str | None,
        labels_hash: str,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Mark a cycle's model trained and logged, with ``meta`` keys in the same transaction.

        A crash leaves either all of it or none: a rerun never sees the new model's
        ``last_model`` beside a cycle still marked ``started``.
        """
        with self.transaction() as db:
            db.execute(
                "UPDATE cycles SET status = 'logged', n_labels = ?, metrics = ?, "
                "model_version = ?, run_id = ?, labels_hash = ? WHERE cycle = ?",
                (n_labels, json.dumps(metrics), model_version, run_id, labels_hash, cycle),
            )
            for key, value in (meta or {}).items():
                self.set_meta(key, value, db)

    def cycle_batch(self, cycle: int, batch_id: str) -> None:
        """Remember which batch a cycle chose (so a resumed cycle does not choose again)."""
        with self.transaction() as db:
            db.execute("UPDATE cycles SET batch_id = ? WHERE cycle = ?", (batch_id, cycle))

    def cycle_pushed(self, cycle: int) -> None:
        """Mark a cycle complete (its batch is in Label Studio)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE cycles SET status = 'pushed', finished_at = ? WHERE cycle = ?",
                (now(), cycle),
            )

    def cycles(self) -> list[dict[str, Any]]:
        """Return every cycle, oldest first, with its metrics."""
        cursor = self._db.execute(
            "SELECT cycle, started_at, finished_at, status, n_labels, metrics, model_version, "
            "run_id, batch_id FROM cycles ORDER BY cycle"
        )
        rows = _dicts(cursor)
        for row in rows:
            row["metrics"] = json.loads(row["metrics"] or "{}")
        return rows

    def pending_tasks(self) -> int:
        """Return pushed items that have no active, cancelled or tied-off annotation yet."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM annotations a "
            "WHERE a.task_id = t.task_id AND a.status IN ('active', 'cancelled', 'quarantined'))"
        ).fetchone()
        return int(row[0])

    # -- routing ------------------------------------------------------------------
    def replace_routes(
        self,
        rows: Sequence[tuple[str, str, str | None, float | None, bool, str]],
        *,
        model_version: str | None,
        cycle: int,
        summary: dict[str, Any],
    ) -> None:
        """Replace every route with this cycle's, and its summary, in one transaction.

        ``rows`` are (item id, route, predicted, confidence, eligible, reason); eligible
        means the item passed its class threshold and no rule kept it for people.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM routes")
            db.executemany(
                "INSERT INTO routes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row[:4], int(row[4]), row[5], model_version, cycle) for row in rows],
            )
            self.set_meta("routing", json.dumps(summary), db)

    def routes(self, where: str = "") -> dict[str, dict[str, Any]]:
        """Return item id -> its current route, machine label, confidence, reason, model.

        ``where`` narrows the rows: ``"auto"`` (machine-labelled) or ``"eligible"``
        (would be machine-labelled, but automatic labelling is suspended).
        """
        condition = {
            "": "",
            "auto": " WHERE route = 'auto'",
            "eligible": " WHERE eligible = 1 AND route != 'auto'",
        }[where]
        cursor = self._db.execute(
            "SELECT item_id, route, predicted, confidence, eligible, reason, model_version, "
            f"cycle FROM routes{condition}"
        )
        return {str(row["item_id"]): row for row in _dicts(cursor)}

    def route_of(self) -> dict[str, str]:
        """Return item id -> route, for every routed item (lighter than :meth:`routes`)."""
        return {str(i): str(r) for i, r in self._db.execute("SELECT item_id, route FROM routes")}

    def auto_item_ids(self) -> set[str]:
        """Return the items the machine labels now."""
        return {
            str(r[0]) for r in self._db.execute("SELECT item_id FROM routes WHERE route = 'auto'")
        }

    def routing_summary(self) -> dict[str, Any] | None:
        """Return the last cycle's routing summary (thresholds, counts, audit verdict)."""
        stored = self.get_meta("routing")
        return None if stored is None else dict(json.loads(stored))

    def items_sent_on(self, route: str) -> int:
        """Return how many batch items were sent on ``route`` (e.g. ``audit``)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM batch_items WHERE route = ?", (route,)
        ).fetchone()
        return int(row[0])

    def prediction_outcomes(self) -> list[dict[str, Any]]:
        """Return every pushed item that carried a model guess, with its final label.

        One row per (batch, item) in push order: ``route`` (``review``: the guess was
        shown to confirm or correct; ``audit``: a machine label checked blind; ``human``:
        the guess was kept from the annotator), ``predicted``, ``confidence``,
        ``model_version``, and ``final`` (the resolved human label, None while
        unlabelled or tied).
        """
        resolved = self.resolutions()
        rows = self._db.execute(
            "SELECT bi.item_id, COALESCE(bi.route, 'review'), bi.predicted, bi.confidence, "
            "b.model_version, b.batch_id FROM batch_items bi JOIN batches b USING (batch_id) "
            "WHERE bi.predicted IS NOT NULL ORDER BY b.created_at, bi.rank"
        ).fetchall()
        out = []
        for item, route, predicted, confidence, version, batch in rows:
            outcome = resolved.get(str(item))
            out.append(
                {
                    "item_id": str(item),
                    "route": str(route),
                    "predicted": str(predicted),
                    "confidence": confidence,
                    "model_version": version,
                    "batch_id": str(batch),
                    "final": outcome.label if outcome is not None else None,
                }
            )
        return out

    # -- the data's fingerprints ---------------------------------------------------
    def fingerprints(self) -> dict[str, str]:
        """Return item id -> digest of its payload, as the project last accepted them."""
        return {str(i): str(d) for i, d in self._db.execute("SELECT * FROM fingerprints")}

    def add_fingerprints(self, digests: Mapping[str, str]) -> None:
        """Record the payload digests of new items (a first open, or items added).

        Features are fitted on the whole pool, so a pool that grew has new features
        the last model does not fit: the next cycle trains one rather than keeping it.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = 'last_model'")
            db.executemany(
                "INSERT INTO fingerprints VALUES (?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET digest = excluded.digest",
                list(digests.items()),
            )

    def forget_unshown(self, item_ids: Iterable[str]) -> None:
        """Drop items nobody was shown from the evaluation set and the stop set.

        For a partitioned pool whose files no longer hold them: nothing was labelled,
        so nothing needs accepting. The stop set's kept predictions go with them.
        """
        gone = set(item_ids)
        with self.transaction() as db:
            db.executemany("DELETE FROM eval_items WHERE item_id = ?", [(i,) for i in gone])
            stop_set = self.get_meta("stop_set")
            if stop_set is not None and set(json.loads(stop_set)) & gone:
                kept = [i for i in json.loads(stop_set) if i not in gone]
                self.set_meta("stop_set", json.dumps(kept), db)
                db.execute("DELETE FROM meta WHERE key = 'stop_predictions'")

    def keep_fingerprints(self, digests: Mapping[str, str]) -> None:
        """Record the digests of items that joined a partitioned pool's working set.

        Unlike :meth:`add_fingerprints` the last model stays valid: the features of a
        partitioned pool do not depend on which items are in memory.
        """
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO fingerprints VALUES (?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET digest = excluded.digest",
                list(digests.items()),
            )

    def accept_data(
        self, digests: Mapping[str, str], *, changed: Iterable[str], removed: Iterable[str]
    ) -> int:
        """Accept a changed data file: its digests become the project's, in one transaction.

        The tasks of changed and removed items are retired (their annotations stay as
        history and no longer count), so changed items can be picked again. Removed
        items leave the evaluation set, the routes and any pending batch; changed items
        leave the routes and any pending batch. Returns how many annotations retired.
        """
        changed, removed = sorted(set(changed)), sorted(set(removed))
        gone = [(i,) for i in (*changed, *removed)]
        with self.transaction() as db:
            before = db.execute(f"SELECT COUNT(*) FROM annotations WHERE NOT ({_LIVE})")
            retired_before = int(before.fetchone()[0])
            stamp = now()
            for reason, ids in (("changed", changed), ("removed", removed)):
                db.executemany(
                    "INSERT INTO retired_tasks SELECT task_id, item_id, batch_id, pushed_at, "
                    "?, ? FROM tasks WHERE item_id = ?",
                    [(stamp, reason, i) for i in ids],
                )
                # Tasks the map does not hold (a duplicate kept for its labels, an import
                # not yet confirmed) carry old-data labels too: retire them as well.
                db.executemany(
                    "INSERT OR IGNORE INTO retired_tasks SELECT DISTINCT task_id, item_id, "
                    "NULL, ?, ?, ? FROM annotations WHERE item_id = ? AND task_id NOT IN "
                    "(SELECT task_id FROM tasks)",
                    [(stamp, stamp, reason, i) for i in ids],
                )
            db.executemany("DELETE FROM tasks WHERE item_id = ?", gone)
            db.executemany(
                "DELETE FROM batch_items WHERE item_id = ? AND batch_id IN "
                "(SELECT batch_id FROM batches WHERE status = 'pending')",
                gone,
            )
            db.executemany("DELETE FROM routes WHERE item_id = ?", gone)
            db.executemany("DELETE FROM eval_items WHERE item_id = ?", [(i,) for i in removed])
            stop_set = self.get_meta("stop_set")
            if stop_set is not None and set(json.loads(stop_set)) & set(removed):
                kept = [i for i in json.loads(stop_set) if i not in set(removed)]
                self.set_meta("stop_set", json.dumps(kept), db)
                db.execute("DELETE FROM meta WHERE key = 'stop_predictions'")
            db.execute("DELETE FROM meta WHERE key = 'last_model'")  # features change too
            # A long-running `run` reads this to know its pool is stale.
            generation = int(self.get_meta("data_generation") or 0) + 1
            self.set_meta("data_generation", str(generation), db)
            db.execute("DELETE FROM fingerprints")
            db.executemany("INSERT INTO fingerprints VALUES (?, ?)", list(digests.items()))
            after = db.execute(f"SELECT COUNT(*) FROM annotations WHERE NOT ({_LIVE})")
            return int(after.fetchone()[0]) - retired_before

    # -- webhook events -----------------------------------------------------------
    def record_event(self, action: str, task_ids: Sequence[int]) -> None:
        """Note that Label Studio reported a change (the webhook does only this)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO events (received_at, action, task_ids) VALUES (?, ?, ?)",
                (now(), action, json.dumps(list(task_ids))),
            )

    def pending_events(self) -> int:
        """Return how many label events no pull has handled yet (training requests aside)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM events WHERE handled = 0 AND action != 'START_TRAINING'"
        ).fetchone()
        return int(row[0])

    def training_requests(self) -> int:
        """Return how many training requests (Label Studio's Start Training) wait.

        A pull leaves them waiting; :meth:`training_started` marks them handled.
        """
        row = self._db.execute(
            "SELECT COUNT(*) FROM events WHERE handled = 0 AND action = 'START_TRAINING'"
        ).fetchone()
        return int(row[0])

    def training_started(self) -> None:
        """Mark every waiting training request handled (a cycle is starting)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET handled = 1 WHERE handled = 0 AND action = 'START_TRAINING'"
            )

    def mark_events_handled(self, db: sqlite3.Connection, up_to: int) -> None:
        """Mark label events up to id ``up_to`` as handled (inside a pull's transaction).

        Training requests stay waiting for `labelloop run` (:meth:`training_started`).
        """
        db.execute(
            "UPDATE events SET handled = 1 WHERE id <= ? AND action != 'START_TRAINING'",
            (up_to,),
        )

    def last_event_id(self) -> int:
        """Return the newest event id (0 when none)."""
        row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        return int(row[0])

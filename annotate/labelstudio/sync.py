"""Push batches to Label Studio and pull labels back, resumably and without duplicates."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from labelloop.annotate.errors import (
    ItemAlreadyQueuedError,
    LabelStudioError,
    LabelStudioUnavailableError,
)
from labelloop.annotate.failpoints import failpoint
from labelloop.annotate.labelstudio.client import (
    BatchTask,
    LabelStudioGateway,
    ProjectCounts,
    dm_time,
)
from labelloop.annotate.labelstudio.translate import (
    FROM_NAME,
    ItemKind,
    annotation_record,
    task_json,
)
from labelloop.annotate.state.records import TaskDraft
from labelloop.annotate.state.store import StateStore

__all__ = [
    "FROM_NAME_KEY",
    "MULTIPLE_KEY",
    "PullReport",
    "PushReport",
    "mirror_deletions",
    "prepare_batch",
    "pull_labels",
    "push_pending",
    "resolve_duplicates",
]

log = logging.getLogger("labelloop")
IMPORT_CHUNK = 5_000
# An import that failed or timed out is reconciled, then what is missing is sent again:
# at most this many sends in all, waiting IMPORT_BACKOFF_S (doubling) in between.
IMPORT_ATTEMPTS = 4
IMPORT_BACKOFF_S = 1.0
CURSOR_OVERLAP = timedelta(seconds=2)
# State meta key: "true" when the project takes several choices per item.
MULTIPLE_KEY = "labelling_multiple"
# State meta key: the name of the project's Choices tag, when not labelloop's own.
FROM_NAME_KEY = "labelling_from_name"
# State meta key: an adopted project's highest task id the pool has taken in (or left out).
SYNCED_KEY = "in_place_synced_to"
# State meta key: labelloop tasks in Label Studio the task map does not hold (a push not
# yet confirmed), as the last task listing found them.
UNMAPPED_KEY = "unmapped_tasks"


@dataclass
class PushReport:
    """What a push did.

    ``sent`` counts the tasks this push created, ``already_there`` those found in Label
    Studio before it sent anything; ``duplicates_removed`` counts second tasks of one
    item that were deleted, ``stale_removed`` the deleted tasks of items that left the
    batch before it was confirmed, and ``warnings`` says what was found.
    """

    batch_id: str
    sent: int
    already_there: int
    seconds: float
    duplicates_removed: int = 0
    stale_removed: int = 0
    warnings: list[str] = field(default_factory=list)


def prepare_batch(
    state: StateStore, drafts: Sequence[TaskDraft], *, strategy: str, model_version: str | None
) -> str:
    """Record a batch as pending (the intent to push) and return its id.

    Items already pushed, or waiting in another pending batch, are refused: no item is
    ever pushed twice. The check and the insert are one write transaction, so two
    processes preparing at once cannot both queue an item.

    Raises
    ------
    ItemAlreadyQueuedError
        If a draft's item is already pushed or waits in a pending batch.
    """
    with state.transaction() as db:
        queued = state.queued_item_ids()
        again = [d.item_id for d in drafts if d.item_id in queued]
        if again:
            raise ItemAlreadyQueuedError(
                f"item {again[0]!r} is already queued in Label Studio ({len(again)} such)"
            )
        number = int(state.get_meta("batches_made") or 0) + 1
        batch_id = f"batch-{number:05d}"
        state.set_meta("batches_made", str(number), db)
        state.record_batch(batch_id, drafts, strategy, model_version, db)
    return batch_id


def resolve_duplicates(
    found: Mapping[str, Sequence[BatchTask]],
) -> tuple[dict[str, int], list[BatchTask], list[BatchTask]]:
    """Choose one task per item among a batch's tasks in Label Studio.

    The task kept is one holding annotations (the lowest id among those), else the
    lowest id. The other tasks of the item are to be deleted when nobody touched them;
    one holding an annotation or a skip is left in place (deleting it would lose work).

    Returns
    -------
    (item id -> task id kept, untouched tasks to delete, touched tasks left in place)

    Examples
    --------
    >>> from labelloop.annotate.labelstudio.client import BatchTask
    >>> found = {"a": [BatchTask(7, "a", 0, False), BatchTask(9, "a", 1, True)]}
    >>> keep, delete, left = resolve_duplicates(found)
    >>> keep, [t.task_id for t in delete], left
    ({'a': 9}, [7], [])
    """
    keep: dict[str, int] = {}
    delete: list[BatchTask] = []
    left: list[BatchTask] = []
    for item_id, tasks in found.items():
        ordered = sorted(tasks, key=lambda t: (t.annotations == 0, t.task_id))
        keep[item_id] = ordered[0].task_id
        for task in ordered[1:]:
            (left if task.touched else delete).append(task)
    return keep, delete, left


def _adopt(
    gateway: LabelStudioGateway,
    project_id: int,
    batch_id: str,
    items: Collection[str],
    report: PushReport,
) -> dict[str, int]:
    """Return item id -> task id of the batch's tasks in Label Studio, one per item.

    Only items still in the batch are adopted: a task carrying the batch id for an item
    that left it (``accept-data`` after a push that was never confirmed) is never
    mapped; it is deleted when untouched, else left and reported. Second tasks of one
    item are deleted when untouched, reported either way.
    """
    found = gateway.tasks_of_batch(project_id, batch_id)
    _drop_stale(
        gateway, batch_id, [t for i, ts in found.items() if i not in items for t in ts], report
    )
    keep, delete, left = resolve_duplicates({i: ts for i, ts in found.items() if i in items})
    for task in delete:
        gateway.delete_task(task.task_id)
        report.duplicates_removed += 1
        _warn(
            report,
            f"{batch_id}: item {task.item_id!r} had a second task {task.task_id} "
            f"(kept task {keep[task.item_id]}); deleted it",
        )
    for task in left:
        _warn(
            report,
            f"{batch_id}: item {task.item_id!r} has a second task {task.task_id} "
            f"(kept task {keep[task.item_id]}); left in place because it holds work, "
            "its labels are pulled for the same item",
        )
    return keep


def _drop_stale(
    gateway: LabelStudioGateway, batch_id: str, stale: Sequence[BatchTask], report: PushReport
) -> None:
    """Delete the untouched tasks of items no longer in the batch; report the others."""
    for task in stale:
        if task.touched:
            _warn(
                report,
                f"{batch_id}: task {task.task_id} is for item {task.item_id!r}, which left the "
                "batch after its data was accepted; left in place because it holds work, "
                "not mapped",
            )
            continue
        gateway.delete_task(task.task_id)
        report.stale_removed += 1
        _warn(
            report,
            f"{batch_id}: task {task.task_id} is for item {task.item_id!r}, which left the "
            "batch after its data was accepted; deleted it",
        )


def _warn(report: PushReport, message: str) -> None:
    if message not in report.warnings:  # the batch may be looked up several times
        report.warnings.append(message)
        log.warning(message)


def push_pending(
    gateway: LabelStudioGateway,
    state: StateStore,
    project_id: int,
    *,
    kind: ItemKind,
    payload_of: Callable[[str], Mapping[str, Any]],
) -> PushReport | None:
    """Push the pending batch, if any, reconciling with what Label Studio already has.

    Safe to rerun after a crash at any point: tasks of this batch already in Label Studio
    (found by their batch id) are adopted, not sent again; only those of items still in
    the batch, so a task left for an item that ``accept-data`` took out of it is deleted
    (or, if someone worked on it, reported), never mapped. An import is sent once; when
    it fails or times out (Label Studio may have created the tasks all the same), the
    batch is reconciled again and only the items still missing are sent, at most
    ``IMPORT_ATTEMPTS`` sends in all. An item with two tasks keeps one (see
    :func:`resolve_duplicates`); untouched extra tasks are deleted.

    Raises
    ------
    LabelStudioError
        If Label Studio refuses the import, or is still failing after the last attempt
        (a :class:`LabelStudioUnavailableError` when it cannot be reached), or holds no
        task for an item afterwards; the batch then stays pending.
    """
    batch_id = state.pending_batch()
    if batch_id is None:
        return None
    start = time.perf_counter()
    strategy, model_version = state.batch_info(batch_id)
    items = state.batch_items(batch_id)
    wanted = {row["item_id"] for row in items}
    report = PushReport(batch_id, 0, 0, 0.0)
    if gateway.whole_project:  # an adopted project: the tasks are there already
        return _mark_in_place(state, batch_id, wanted, report, start)
    task_ids = _adopt(gateway, project_id, batch_id, wanted, report)
    report.already_there = len(task_ids)

    def to_task(row: Mapping[str, Any]) -> dict[str, Any]:
        draft = TaskDraft(
            item_id=row["item_id"],
            payload=payload_of(row["item_id"]),
            rank=row["rank"],
            score=row["score"],
            predicted=row["predicted"],
            confidence=row["confidence"],
            route=row["route"],
        )
        return task_json(
            draft, kind=kind, batch_id=batch_id, strategy=strategy, model_version=model_version
        )

    wait = IMPORT_BACKOFF_S
    failed = False
    for attempt in range(1, IMPORT_ATTEMPTS + 1):
        missing = [row for row in items if row["item_id"] not in task_ids]
        try:
            _import_missing(gateway, project_id, missing, to_task, task_ids, report)
            break
        except LabelStudioError as exc:
            outage = isinstance(exc, LabelStudioUnavailableError) or (exc.status or 0) >= 500
            if not outage or attempt == IMPORT_ATTEMPTS:
                raise
            failed = True
            log.warning(
                "%s: %s; checking what Label Studio holds, then sending the rest", batch_id, exc
            )
            time.sleep(wait)
            wait *= 2
            before = len(task_ids)
            task_ids = _adopt(gateway, project_id, batch_id, wanted, report)
            report.sent += len(task_ids) - before  # created by the failed import after all
    if failed:
        # A timed-out import may have been committed only after it was looked up and
        # sent again: one last look keeps one task per item.
        task_ids = _adopt(gateway, project_id, batch_id, wanted, report)
    unmapped = [row["item_id"] for row in items if row["item_id"] not in task_ids]
    if unmapped:  # never mark a batch pushed with items Label Studio does not hold
        raise LabelStudioError(
            f"{batch_id}: Label Studio holds no task for {len(unmapped)} item(s) after the "
            f"push (first: {unmapped[0]!r}); the batch stays pending, rerun to send them"
        )
    state.confirm_push(batch_id, task_ids)
    report.seconds = time.perf_counter() - start
    return report


def _mark_in_place(
    state: StateStore, batch_id: str, wanted: Collection[str], report: PushReport, start: float
) -> PushReport:
    """Push a batch of an adopted project: map each item to the task it already has.

    Nothing is imported; the queue refresh then ranks the tasks in Label Studio. An
    item whose task was deleted since it was picked leaves the batch, with a warning.
    """
    in_place = state.in_place()
    gone = sorted(i for i in wanted if i not in in_place)
    if gone:
        state.drop_from_batch(batch_id, gone)
        _warn(
            report,
            f"{batch_id}: the task of item {gone[0]!r} was deleted in Label Studio "
            f"({len(gone)} such); left out of the batch",
        )
    state.confirm_push(batch_id, {i: in_place[i] for i in sorted(wanted) if i in in_place})
    report.already_there = len(wanted) - len(gone)
    report.seconds = time.perf_counter() - start
    return report


def _import_missing(
    gateway: LabelStudioGateway,
    project_id: int,
    missing: Sequence[Mapping[str, Any]],
    to_task: Callable[[Mapping[str, Any]], dict[str, Any]],
    task_ids: dict[str, int],
    report: PushReport,
) -> None:
    """Import the missing items chunk by chunk, recording each chunk's task ids."""
    for offset in range(0, len(missing), IMPORT_CHUNK):
        chunk = missing[offset : offset + IMPORT_CHUNK]
        created = gateway.import_tasks(project_id, [to_task(row) for row in chunk])
        # The tasks are in Label Studio, the state does not know them yet: a crash here
        # is what the batch-id reconciliation recovers from.
        failpoint("push.imported")
        task_ids.update(zip((row["item_id"] for row in chunk), created, strict=True))
        report.sent += len(chunk)


@dataclass
class PullReport:
    """What a pull found: counts by kind of change, and warnings.

    ``deleted`` counts annotations (and skips) deleted in Label Studio, including those
    of deleted tasks; ``tasks_deleted`` the tasks deleted there; ``reconciliations`` the
    full listings the pull needed because Label Studio's counters disagreed with the
    state (0 on a quiet pull).
    """

    tasks_fetched: int = 0
    tasks_changed: int = 0
    new: int = 0
    updated: int = 0
    deleted: int = 0
    tasks_deleted: int = 0
    reconciliations: int = 0
    cancelled: int = 0
    quarantined: int = 0
    foreign_tasks: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


def _after(one: str, other: str) -> bool:
    return datetime.fromisoformat(one) > datetime.fromisoformat(other)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def pull_labels(
    gateway: LabelStudioGateway, state: StateStore, project_id: int, known_labels: Sequence[str]
) -> PullReport:
    """Mirror every annotation change since the last pull into the state store.

    Only tasks updated since the cursor are fetched (a Data Manager filter), so a pull
    costs the number of changed tasks, not the project's size. For each changed task the
    stored annotations are reconciled with Label Studio's: new ones inserted, changed ones
    updated, missing ones marked ``deleted``. Everything lands in one transaction with
    the new cursor, so a crash leaves the previous state and the next pull redoes it.
    In a single-label project (as ``open_project`` recorded it) an annotation with
    several choices is quarantined, with a warning in the report, never trained on.

    Deletions the changed tasks cannot show (a deleted task; a task only seconds old
    whose last annotation was deleted) are found by comparing Label Studio's counters
    (:meth:`LabelStudioGateway.counts`, two cheap requests) with the state's; only when
    they differ are task or annotation ids listed (:func:`mirror_deletions`).
    """
    start = time.perf_counter()
    report = PullReport()
    cursor = state.get_meta("pull_cursor")
    since = None
    if cursor is not None:
        since = dm_time((datetime.fromisoformat(cursor) - CURSOR_OVERLAP).isoformat())
    last_event = state.last_event_id()
    multiple = state.get_meta(MULTIPLE_KEY) == "true"
    from_name = state.get_meta(FROM_NAME_KEY) or FROM_NAME
    # An adopted project's tasks are known by task id (their data is the user's own).
    owners = state.item_of_task() if gateway.whole_project else None
    # Tasks above this id are not in the pool yet (created after the last sync): the
    # cursor must not pass them, or their labels would never be fetched again.
    synced = int(state.get_meta(SYNCED_KEY) or 0)
    hold: str | None = None
    # Counted before the changes are fetched: whatever changes in between shows as a
    # difference (a listing too many), never as agreement over a missed deletion.
    counts = gateway.counts(project_id)
    tasks = gateway.tasks_changed_since(project_id, since)
    stored = state.annotations_of_tasks(int(t.id) for t in tasks)
    newest = cursor
    with state.transaction() as db:
        for task in tasks:
            updated_at = _iso(task.updated_at)
            if newest is None or datetime.fromisoformat(updated_at) > datetime.fromisoformat(
                newest
            ):
                newest = updated_at
            if owners is not None:
                item_id = owners.get(int(task.id))
            else:
                item_id = (task.data or {}).get("item_id")
            if item_id is None or item_id == "":
                report.foreign_tasks += 1
                unsynced = owners is not None and int(task.id) > synced
                if unsynced and (hold is None or _after(hold, updated_at)):
                    hold = updated_at
                continue
            report.tasks_fetched += 1
            changes = report.new + report.updated + report.deleted
            before = stored.get(int(task.id), {})
            current: set[int] = set()
            for annotation in task.annotations or []:
                record = annotation_record(
                    annotation, int(task.id), known_labels, multiple=multiple, from_name=from_name
                )
                current.add(record.annotation_id)
                previous = before.get(record.annotation_id)
                if previous is not None and previous == (record.status, record.updated_at):
                    continue
                if previous is None:
                    report.new += 1
                else:
                    report.updated += 1
                if record.status == "cancelled":
                    report.cancelled += 1
                if record.status == "quarantined":
                    report.quarantined += 1
                    message = (
                        f"annotation {record.annotation_id} on item {item_id!r} by "
                        f"{record.annotator}: {record.note}; quarantined, not used"
                    )
                    report.warnings.append(message)
                    log.warning(message)
                state.upsert_annotation(db, record, str(item_id))
            gone = [
                a for a, (status, _) in before.items() if a not in current and status != "deleted"
            ]
            state.mark_deleted(db, gone)
            report.deleted += len(gone)
            if report.new + report.updated + report.deleted > changes:
                report.tasks_changed += 1
        mirror_deletions(gateway, state, db, project_id, counts, report)
        if hold is not None and newest is not None and _after(newest, hold):
            # Fetched again once they joined the pool (the overlap covers a cursor just
            # past them).
            newest = cursor if cursor is not None and _after(cursor, hold) else hold
        if newest is not None:
            state.set_meta("pull_cursor", newest, db)
        state.mark_events_handled(db, last_event)
    report.seconds = time.perf_counter() - start
    return report


def mirror_deletions(
    gateway: LabelStudioGateway,
    state: StateStore,
    db: sqlite3.Connection,
    project_id: int,
    counts: ProjectCounts,
    report: PullReport,
) -> None:
    """Mirror deleted tasks and annotations when Label Studio's counters disagree.

    Runs inside the pull's transaction, after the changed tasks are applied. When the
    number of labelloop tasks differs, the task ids are listed; when the annotations or
    the skipped tasks differ, the annotation ids are listed (both listings carry ids
    only). A listing is read page by page while people may be deleting, so rows can
    shift between pages and a live one go unlisted: what a listing misses is only a
    candidate, and each candidate is asked for by id. Only what Label Studio answers
    404 for is mirrored as deleted (tasks leave the task map, their annotations and
    stored annotations become ``deleted``), so the lookups follow the number of
    changes, not the project's size.
    """
    unmapped = int(state.get_meta(UNMAPPED_KEY) or 0)
    tasks, _, _ = state.live_counts()
    if counts.tasks != tasks + unmapped:
        report.reconciliations += 1
        present = gateway.task_ids(project_id)
        mapped = set(state.item_of_task())
        gone = [t for t in sorted(mapped - present) if not gateway.task_exists(t)]
        report.deleted += state.mark_tasks_deleted(db, gone)
        report.tasks_deleted += len(gone)
        state.set_meta(UNMAPPED_KEY, str(len(present - mapped)), db)
    _, annotations, skipped = state.live_counts()
    if (counts.annotations, counts.skipped_tasks) != (annotations, skipped):
        report.reconciliations += 1
        unlisted = state.live_annotation_ids() - gateway.annotation_ids(project_id)
        gone_annotations = [a for a in sorted(unlisted) if not gateway.annotation_exists(a)]
        state.mark_deleted(db, gone_annotations)
        report.deleted += len(gone_annotations)

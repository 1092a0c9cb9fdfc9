"""Integration: deletions in a real Label Studio reach the state, whatever their timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.client import LabelStudioGateway, ProjectCounts
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.labelstudio.sync import prepare_batch, pull_labels, push_pending
from labelloop.annotate.loop.features import load_project_pool
from labelloop.annotate.loop.project import payload_function
from labelloop.annotate.reporting.export import read_export
from labelloop.annotate.state.records import TaskDraft
from tests.helpers import api, choice, push, write_config

pytestmark = pytest.mark.integration


def _pull(project: Any) -> Any:
    return pull_labels(project.gateway, project.state, project.project_id, project.labels)


def _export(config_path: Path, workdir: Path, out: Path) -> list[str]:
    result = CliRunner().invoke(
        main,
        ["export", "--config", str(config_path), "--workdir", str(workdir), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    return [str(i) for i in read_export(out)["item_id"]]


def test_an_annotation_deleted_right_after_the_push_is_mirrored(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = write_config(tmp_path, "quickdelete")
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    ls = api(credentials)
    push(project, 3, tmp_path / "cache")
    item, task = sorted(project.state.task_map().items())[0]
    # Within the first seconds of the task's life: the pull cursor sits right after it.
    annotation = ls.annotations.create(id=task, result=choice("sports"))
    assert _pull(project).new == 1
    assert item in project.state.resolutions()
    assert item in _export(config_path, workdir, tmp_path / "before.csv")

    ls.annotations.delete(id=annotation.id)
    report = _pull(project)

    assert report.deleted == 1
    assert item not in project.state.resolutions()
    assert item not in _export(config_path, workdir, tmp_path / "after.csv")
    status = {r["annotation_id"]: r["status"] for r in project.state.annotation_rows()}
    assert status[annotation.id] == "deleted"  # the row stays, as provenance


def test_deleted_tasks_are_mirrored_and_their_items_can_be_picked_again(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = write_config(tmp_path, "taskdelete")
    config = load_config(config_path)
    pool = load_project_pool(config)
    project = open_tracked(config, pool, workdir)
    ls = api(credentials)
    push(project, 4, tmp_path / "cache")
    (labelled, labelled_task), (open_item, open_task), *_ = sorted(project.state.task_map().items())
    ls.annotations.create(id=labelled_task, result=choice("tech"))
    assert _pull(project).new == 1
    assert labelled in project.state.resolutions()

    ls.tasks.delete(id=labelled_task)
    ls.tasks.delete(id=open_task)
    result = CliRunner().invoke(
        main, ["pull", "--config", str(config_path), "--workdir", str(workdir)]
    )

    assert result.exit_code == 0, result.output
    assert "1 deleted" in result.stdout and "2 task(s) deleted in Label Studio" in result.stdout
    assert labelled not in project.state.resolutions()
    assert labelled not in _export(config_path, workdir, tmp_path / "labels.csv")
    assert {labelled, open_item}.isdisjoint(project.state.task_map())
    assert {labelled, open_item}.isdisjoint(project.state.queued_item_ids())
    assert project.state.pending_tasks() == 2  # the two tasks still in Label Studio

    # The open item goes to Label Studio again, as a new task.
    batch = prepare_batch(
        project.state,
        [TaskDraft(item_id=open_item, payload={}, rank=1, score=None)],
        strategy="random",
        model_version=None,
    )
    pushed = push_pending(
        project.gateway,
        project.state,
        project.project_id,
        kind=project.kind,
        payload_of=payload_function(project.kind, pool),
    )
    assert pushed is not None and (pushed.batch_id, pushed.sent) == (batch, 1)
    again = project.state.task_map()[open_item]
    # A new task (Label Studio on SQLite may give it the id the deleted one had).
    assert len(list(ls.tasks.list(project=project.project_id))) == 3
    assert ls.tasks.get(id=again).data["item_id"] == open_item
    assert _pull(project).tasks_deleted == 0  # the new task is no deletion


def test_a_quiet_pull_checks_counters_only(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "quietpull"))
    project = open_tracked(config, load_project_pool(config), workdir)
    ls = api(credentials)
    push(project, 4, tmp_path / "cache")
    tasks = [t for _, t in sorted(project.state.task_map().items())]
    ls.annotations.create(id=tasks[0], result=choice("tech"))
    ls.annotations.create(id=tasks[1], result=[], was_cancelled=True)  # a skip
    ls.annotations.create(id=tasks[2], result=choice("weather"))  # quarantined
    # Tasks labelloop did not create: one labelled, one skipped, one untouched.
    foreign = ls.projects.import_tasks(
        id=project.project_id,
        request=[{"text": "not ours"}, {"text": "nor this"}, {"text": "nor that"}],
        return_task_ids=True,
    ).task_ids
    ls.annotations.create(id=foreign[0], result=choice("tech"))
    ls.annotations.create(id=foreign[1], result=[], was_cancelled=True)
    first = _pull(project)
    assert (first.new, first.cancelled, first.quarantined) == (3, 1, 1)

    quiet = _pull(project)

    assert (quiet.new, quiet.updated, quiet.deleted, quiet.tasks_deleted) == (0, 0, 0, 0)
    assert quiet.reconciliations == 0  # the counters agreed: nothing listed

    # A skip deleted on a task only seconds old: no changed task shows it, the counters do.
    push(project, 1, tmp_path / "cache")
    (fresh,) = set(project.state.task_map().values()) - set(tasks)
    skip = ls.annotations.create(id=fresh, result=[], was_cancelled=True)
    assert _pull(project).cancelled == 1
    ls.annotations.delete(id=skip.id)
    found = _pull(project)
    assert (found.deleted, found.reconciliations) == (1, 1)
    status = {r["annotation_id"]: r["status"] for r in project.state.annotation_rows()}
    assert status[skip.id] == "deleted"
    assert project.state.pending_tasks() == 2  # the fresh task waits again, with tasks[3]
    assert _pull(project).reconciliations == 0


class ShiftedListing(LabelStudioGateway):
    """The real gateway, whose id listings miss one live task and its annotation.

    As a listing read page by page does when a row on an earlier page is deleted while
    a later page is read; the counters, read at another moment, disagree with the state.
    """

    def __init__(self, gateway: LabelStudioGateway, task_id: int, annotation_id: int) -> None:
        super().__init__(gateway.client, gateway.url, backoff_s=0.01)
        self.task_id, self.annotation_id = task_id, annotation_id

    def counts(self, project_id: int) -> ProjectCounts:
        real = super().counts(project_id)
        return ProjectCounts(real.tasks, real.annotations + 1, real.skipped_tasks)

    def task_ids(self, project_id: int) -> set[int]:
        return super().task_ids(project_id) - {self.task_id}

    def annotation_ids(self, project_id: int) -> set[int]:
        return super().annotation_ids(project_id) - {self.annotation_id}


def test_a_live_task_a_listing_missed_keeps_its_label(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "shiftedpage"))
    project = open_tracked(config, load_project_pool(config), workdir)
    ls = api(credentials)
    push(project, 3, tmp_path / "cache")
    (labelled, labelled_task), (_, deleted_task), _ = sorted(project.state.task_map().items())
    annotation = ls.annotations.create(id=labelled_task, result=choice("tech"))
    assert _pull(project).new == 1
    ls.tasks.delete(id=deleted_task)  # a real deletion, so the task counter differs

    lying = ShiftedListing(project.gateway, labelled_task, int(annotation.id))
    report = pull_labels(lying, project.state, project.project_id, project.labels)

    assert labelled in project.state.resolutions()  # the label is not lost
    assert project.state.task_map()[labelled] == labelled_task
    status = {r["annotation_id"]: r["status"] for r in project.state.annotation_rows()}
    assert status[annotation.id] != "deleted"
    assert deleted_task not in project.state.task_map().values()  # the real one mirrored
    assert (report.tasks_deleted, report.deleted, report.reconciliations) == (1, 0, 2)

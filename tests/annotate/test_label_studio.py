"""Integration: labelloop against a real Label Studio server (no mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.schema import ProjectConfig, load_config
from labelloop.annotate.errors import LabelStudioError
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.labelstudio.sync import prepare_batch, pull_labels, push_pending
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.project import (
    next_batch,
    payload_function,
    state_path,
)
from labelloop.datasets import load_demo_pool
from tests.helpers import api, choice, push, write_config

pytestmark = pytest.mark.integration


def test_round_trip_push_annotate_pull(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "roundtrip"))
    pool = load_project_pool(config)
    gold = dict(zip(pool.ids.tolist(), pool.labels.tolist(), strict=True))
    project = open_tracked(config, pool, workdir)
    assert project.created
    again = open_tracked(config, pool, workdir)
    assert (again.project_id, again.created) == (project.project_id, False)
    ls = api(credentials)

    # Cold start: 10 items, no model yet, so no predictions.
    push(project, 10, tmp_path / "cache")
    first = project.state.task_map()
    assert len(first) == 10
    for item, task in first.items():
        ls.annotations.create(id=task, result=choice(gold[item]))
    report = pull_labels(project.gateway, project.state, project.project_id, project.labels)
    assert (report.new, report.updated, report.deleted) == (10, 0, 0)
    assert {i: r.label for i, r in project.state.resolutions().items()} == {
        i: gold[i] for i in first
    }

    # 1,000 tasks with the model's predictions, in one bulk import.
    batch = push(project, 1000, tmp_path / "cache")
    tasks = project.state.task_map()
    assert len(tasks) == 1010
    assert ls.projects.get(id=project.project_id).task_number == 1010
    batch_items = project.state.batch_items(batch)
    top = batch_items[0]
    task = ls.tasks.get(id=tasks[top["item_id"]])
    assert task.data["item_id"] == top["item_id"]
    assert task.data["acquisition_rank"] == 1
    assert task.data["acquisition_score"] == pytest.approx(top["score"], abs=1e-6)
    prediction = task.predictions[0]
    prediction = prediction if isinstance(prediction, dict) else prediction.dict()
    assert prediction["score"] == pytest.approx(top["confidence"], abs=1e-6)
    assert prediction["result"][0]["value"]["choices"] == [top["predicted"]]
    assert prediction["model_version"] == "roundtrip-10-labels"

    # Annotate as people would.
    ids = [row["item_id"] for row in batch_items[:8]]
    other = ls.users.create(
        username="second", email="second@labelloop.local", password="second-pass-123"
    )
    third = ls.users.create(
        username="third", email="third@labelloop.local", password="third-pass-123"
    )
    wrong = next(lbl for lbl in project.labels if lbl != gold[ids[2]])
    plain = ls.annotations.create(id=tasks[ids[0]], result=choice(gold[ids[0]]))
    ls.annotations.create(id=tasks[ids[1]], result=[], was_cancelled=True)  # skip
    changed = ls.annotations.create(id=tasks[ids[2]], result=choice(wrong))
    ls.annotations.update(id=changed.id, result=choice(gold[ids[2]]))  # corrected
    removed = ls.annotations.create(id=tasks[ids[3]], result=choice(gold[ids[3]]))
    ls.annotations.delete(id=removed.id)
    x, y = project.labels[0], project.labels[1]
    ls.annotations.create(id=tasks[ids[4]], result=choice(x))
    ls.annotations.create(id=tasks[ids[4]], result=choice(y), completed_by=other.id)  # 1-1 tie
    for who, label in ((None, x), (other.id, x), (third.id, y)):  # 2-1 majority
        kwargs = {"completed_by": who} if who else {}
        ls.annotations.create(id=tasks[ids[5]], result=choice(label), **kwargs)
    ls.annotations.create(id=tasks[ids[6]], result=choice("weather"))  # unknown label

    report = pull_labels(project.gateway, project.state, project.project_id, project.labels)
    assert report.tasks_changed == 6  # a task whose only annotation was deleted is not fetched
    assert report.quarantined == 1 and report.cancelled == 1
    assert "unknown label(s): weather" in report.warnings[0]
    rows = {r["annotation_id"]: r for r in project.state.annotation_rows()}
    assert rows[plain.id]["status"] == "active" and rows[plain.id]["labels"] == [gold[ids[0]]]
    assert rows[changed.id]["labels"] == [gold[ids[2]]]
    assert rows[plain.id]["annotator"] == credentials.username  # who labelled it, not an id
    assert removed.id not in rows  # created and deleted between two pulls: never a label
    resolved = project.state.resolutions()
    assert resolved[ids[0]].label == gold[ids[0]]
    assert ids[1] not in resolved  # a skip is not a label
    assert resolved[ids[2]].label == gold[ids[2]]
    assert ids[3] not in resolved
    assert resolved[ids[4]].tie and resolved[ids[4]].label is None
    assert resolved[ids[5]].label == x and resolved[ids[5]].agreement == pytest.approx(2 / 3)
    assert ids[6] not in resolved
    statuses = sorted(r["status"] for r in rows.values() if r["item_id"] in ids)
    assert statuses.count("cancelled") == 1 and statuses.count("quarantined") == 1

    # Nothing changed: the next pull finds nothing new.
    quiet = pull_labels(project.gateway, project.state, project.project_id, project.labels)
    assert (quiet.new, quiet.updated, quiet.deleted) == (0, 0, 0)

    # A deletion of an already pulled annotation is mirrored, the row is kept.
    ls.annotations.delete(id=plain.id)
    mirrored = pull_labels(project.gateway, project.state, project.project_id, project.labels)
    assert mirrored.deleted == 1
    assert {r["annotation_id"]: r["status"] for r in project.state.annotation_rows()}[
        plain.id
    ] == "deleted"
    assert ids[0] not in project.state.resolutions()

    # Every stored active label matches Label Studio exactly.
    live = {}
    for task_id in tasks.values():
        for annotation in ls.annotations.list(id=task_id):
            if not annotation.was_cancelled:
                live[annotation.id] = [c for r in annotation.result for c in r["value"]["choices"]]
    stored = {a: r["labels"] for a, r in rows.items() if r["status"] in ("active", "quarantined")}
    stored.pop(plain.id)
    assert stored == live


def test_push_interrupted_half_way_creates_no_duplicate(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "crashpush"))
    pool = load_project_pool(config)
    project = open_tracked(config, pool, workdir)
    X = project_features(config, pool, tmp_path / "cache")
    drafts, strategy, version = next_batch(project, X, 300)
    batch = prepare_batch(project.state, drafts, strategy=strategy, model_version=version)
    # The process died after Label Studio created the first half, before the task map was saved.
    from labelloop.annotate.labelstudio.translate import task_json

    payload = payload_function(project.kind, pool)
    half = [
        task_json(
            type(d)(d.item_id, payload(d.item_id), d.rank, d.score),
            kind="text",
            batch_id=batch,
            strategy=strategy,
            model_version=None,
        )
        for d in drafts[:150]
    ]
    project.gateway.import_tasks(project.project_id, half)
    report = push_pending(
        project.gateway, project.state, project.project_id, kind="text", payload_of=payload
    )
    assert report is not None and (report.sent, report.already_there) == (150, 150)
    ls = api(credentials)
    items = [
        t.data["item_id"] for t in ls.tasks.list(project=project.project_id, fields="task_only")
    ]
    assert len(items) == 300 == len(set(items))


@pytest.mark.chaos  # minutes of kills and restarts: `make chaos`
def test_push_killed_after_label_studio_took_the_tasks_then_rerun(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = write_config(tmp_path, "killpush")
    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    exe = str(Path(sys.executable).parent / "labelloop")
    args = [exe, "push", "--config", str(config_path), "--workdir", str(workdir), "--n", "400"]
    config = load_config(config_path)
    ls = api(credentials)
    project = None
    # First on a fresh project, then with a batch already in Label Studio.
    for _ in range(2):
        # Killed right after Label Studio accepted the import, before the state recorded it.
        killed = subprocess.run(
            args, env={**env, "LABELLOOP_FAILPOINT": "push.imported"}, capture_output=True
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-800:]
        project = project or open_tracked(config, load_project_pool(config), workdir)
        batch = project.state.pending_batch()
        assert batch is not None
        batch_ids = {row["item_id"] for row in project.state.batch_items(batch)}
        assert len(batch_ids) == 400 and not batch_ids & set(project.state.task_map())
        assert set(project.gateway.tasks_of_batch(project.project_id, batch)) == batch_ids

        rerun = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
        assert f"{batch}: sent 0 task(s), 400 already in Label Studio" in rerun.stdout
        items = [
            t.data["item_id"] for t in ls.tasks.list(project=project.project_id, fields="task_only")
        ]
        assert len(items) == len(set(items)) == len(project.state.task_map())
        assert project.state.pending_batch() is None
        assert batch_ids <= set(project.state.task_map())


@pytest.mark.parametrize(
    ("source", "kind", "key"),
    [("bundled:digits", "image", "image"), ("bundled:wine", "tabular", "table")],
)
def test_image_and_tabular_projects(
    open_tracked: Any,
    label_studio: tuple[Path, Credentials],
    tmp_path: Path,
    source: str,
    kind: str,
    key: str,
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, f"kind-{kind}", source))
    pool = load_project_pool(config)
    project = open_tracked(config, pool, workdir)
    assert project.kind == kind
    push(project, 5, tmp_path / "cache")
    ls = api(credentials)
    task = ls.tasks.get(id=next(iter(project.state.task_map().values())))
    value = task.data[key]
    if kind == "image":
        assert value.startswith("data:image/png;base64,")
    else:
        assert set(value) == set(pool.feature_columns)


def test_labels_that_differ_from_the_project_are_an_error(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, _ = label_studio
    config = load_config(write_config(tmp_path, "mismatch"))
    pool = load_project_pool(config)
    open_tracked(config, pool, workdir)
    changed = config.model_copy(
        update={"labelling": config.labelling.model_copy(update={"labels": ("a", "b")})}
    )
    state_path(workdir, config).unlink()  # a fresh state finds the project by title
    with pytest.raises(
        LabelStudioError, match=r"has labels \[business, .*\] but the config says \[a, b\]"
    ):
        open_tracked(changed, pool, workdir)


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(main, list(args))
    return result.exit_code, result.stderr


def test_wrong_token_unreachable_server_and_missing_project(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = write_config(tmp_path, "errors")
    fresh = tmp_path / "fresh-workdir"
    code, err = cli(
        "pull",
        "--config",
        str(config),
        "--workdir",
        str(fresh),
        env={"LABEL_STUDIO_URL": credentials.url, "LABEL_STUDIO_API_KEY": "not-the-key"},
    )
    assert code == 1 and err.count("\n") == 1
    assert "refused the API key (HTTP 401)" in err and "not-the-key" not in err
    state = fresh / "projects" / "errors" / "state.sqlite"
    assert not state.exists()  # nothing written half-way (the lock file is no state)

    from labelloop.annotate.labelstudio.server import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    code, err = cli(
        "pull",
        "--config",
        str(config),
        "--workdir",
        str(fresh),
        env={"LABEL_STUDIO_URL": dead, "LABEL_STUDIO_API_KEY": credentials.api_key},
    )
    assert code == 1 and err.count("\n") == 1
    assert f"cannot reach Label Studio at {dead}" in err and credentials.api_key not in err
    assert not state.exists()

    loaded = load_config(config)
    project = open_tracked(loaded, load_project_pool(loaded), workdir)
    ls = api(credentials)
    ls.projects.delete(id=project.project_id)
    code, err = cli("pull", "--config", str(config), "--workdir", str(workdir))
    assert code == 1 and err.count("\n") == 1
    assert f"Label Studio project {project.project_id} ('labelloop: errors') is missing" in err


def test_server_refuses_a_taken_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = cli("server", "start", "--workdir", str(tmp_path), "--port", str(port))
    assert code == 1 and f"port {port} on 127.0.0.1 is taken" in err


def test_project_config_for_the_cli(tmp_path: Path) -> None:
    assert isinstance(load_config(write_config(tmp_path, "x")), ProjectConfig)
    assert len(load_demo_pool("wine").feature_columns) == 13


def test_token_stays_in_the_credentials_file(label_studio: tuple[Path, Credentials]) -> None:
    workdir, credentials = label_studio
    folder = workdir / "label-studio"
    assert (folder / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert credentials.api_key not in (folder / "server.log").read_text(errors="replace")
    assert credentials.api_key not in (folder / "server.json").read_text()
    assert credentials.api_key not in repr(credentials)
    code, _ = cli("server", "status", "--workdir", str(workdir))
    assert code == 0


def test_several_choices_in_a_single_label_project_are_quarantined(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = write_config(tmp_path, "twochoices")
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    push(project, 2, tmp_path / "cache")
    (one, task_one), (two, task_two) = sorted(project.state.task_map().items())
    ls = api(credentials)
    both = choice("sports")
    both[0]["value"]["choices"] = ["sports", "tech"]
    ls.annotations.create(id=task_one, result=both)  # the API takes it; the UI would not
    ls.annotations.create(id=task_two, result=choice("tech"))
    result = CliRunner().invoke(
        main, ["pull", "--config", str(config_path), "--workdir", str(workdir)]
    )
    assert result.exit_code == 0, result.stderr
    assert "2 choices in a single-label project: sports, tech; quarantined, not used" in (
        result.stderr
    )
    assert "1 quarantined" in result.stdout
    statuses = {r["item_id"]: r["status"] for r in project.state.annotation_rows()}
    assert statuses == {one: "quarantined", two: "active"}
    assert {i: r.label for i, r in project.state.resolutions().items()} == {two: "tech"}
    assert "sports|tech" not in {r.label for r in project.state.resolutions().values()}


@pytest.mark.parametrize("multiple", [True, False])
def test_a_project_whose_choice_mode_differs_is_refused(
    label_studio: tuple[Path, Credentials], tmp_path: Path, multiple: bool
) -> None:
    from labelloop.annotate.labelstudio.translate import labeling_config
    from labelloop.annotate.loop.project import open_project

    workdir, credentials = label_studio
    name = f"choicemode-{str(multiple).lower()}"
    extra = f"labelling: {{multiple: {str(multiple).lower()}}}\n"
    config = load_config(write_config(tmp_path, name, extra=extra))
    pool = load_project_pool(config)
    # Someone made the project by hand with the other choice mode.
    made = api(credentials).projects.create(
        title=f"labelloop: {name}",
        label_config=labeling_config("text", pool.classes, multiple=not multiple),
    )
    with pytest.raises(LabelStudioError) as info:
        open_project(config, pool, workdir)
    takes = "one choice" if multiple else "several choices"
    assert str(info.value) == (
        f"Label Studio project {made.id} ('labelloop: {name}') takes {takes} per item "
        f"but the config says labelling.multiple: {str(multiple).lower()}"
    )

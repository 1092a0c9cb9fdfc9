"""An existing Label Studio project as the pool, on a real server: labelled in place."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.queue import queue_order
from labelloop.annotate.loop.tracking import Tracker
from labelloop.datasets import load_demo_pool
from tests.helpers import api, served_next

pytestmark = pytest.mark.integration


def _headers(credentials: Credentials) -> dict[str, str]:
    return dict(api(credentials)._client_wrapper.get_headers())


def model_versions(credentials: Credentials, project_id: int) -> dict[str, int]:
    """Predictions in the project by model version, as Label Studio counts them."""
    answer = httpx.get(
        f"{credentials.url}/api/projects/{project_id}/model-versions/",
        headers=_headers(credentials),
        timeout=60,
    )
    answer.raise_for_status()
    return {str(k): int(v) for k, v in answer.json().items()}


def task_ids(ls: Any, project_id: int) -> list[int]:
    return sorted(int(t.id) for t in ls.tasks.list(project=project_id, fields="task_only"))


def choices_xml(tag: str, name: str, value: str, choices_name: str, labels: list[str]) -> str:
    options = "".join(f'<Choice value="{label}"/>' for label in labels)
    return (
        f'<View><{tag} name="{name}" value="${value}"/>'
        f'<Choices name="{choices_name}" toName="{name}">{options}</Choices></View>'
    )


def annotate(ls: Any, task: int, label: str, from_name: str, to_name: str) -> None:
    ls.annotations.create(
        id=task,
        result=[
            {
                "from_name": from_name,
                "to_name": to_name,
                "type": "choices",
                "value": {"choices": [label]},
            }
        ],
    )


def init(workdir: Path, configs: Path, name: str, project_id: int) -> tuple[str, str]:
    result = CliRunner().invoke(
        main,
        [
            "init",
            name,
            "--label-studio-project",
            str(project_id),
            "--workdir",
            str(workdir),
            "--configs-dir",
            str(configs),
        ],
    )
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def tune(path: Path, **settings: Any) -> None:
    """Change what ``init`` wrote, as a user edits the YAML."""
    written = yaml.safe_load(path.read_text())
    written.update(settings)
    path.write_text(yaml.safe_dump(written, sort_keys=False))


def test_an_existing_text_project_is_the_pool_and_is_labelled_in_place(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    ls = api(credentials)
    news = load_demo_pool("bbc_news")
    frame = news.frame.iloc[::14].iloc[:150]  # every topic (the corpus is sorted by topic)
    gold_of_text = dict(zip(news.frame[news.text_column], news.labels, strict=True))
    labels = list(news.classes)
    xml = choices_xml("Text", "article", "body", "topic", labels)
    pid = int(ls.projects.create(title="newsroom triage", label_config=xml).id)
    rows = [{"data": {"body": text, "desk": "wire"}} for text in frame[news.text_column]]
    ls.projects.import_tasks(id=pid, request=[*rows, {"data": {"body": "   "}}])
    tasks = {int(t.id): t.data["body"] for t in ls.tasks.list(project=pid, fields="all")}
    order = sorted(tasks)
    empty = order[-1]
    # The team's work before labelloop: 15 labels, and a guess of their own model.
    before = order[:-1:10]
    for task in before:
        annotate(ls, task, gold_of_text[tasks[task]], "topic", "article")
    team_task = order[101]
    ls.predictions.create(
        task=team_task,
        model_version="team-model",
        score=0.5,
        result=[
            {
                "from_name": "topic",
                "to_name": "article",
                "type": "choices",
                "value": {"choices": [labels[0]]},
            }
        ],
    )

    out, err = init(workdir, tmp_path, "newsroom", pid)
    assert f"Label Studio project {pid} (newsroom triage), 150 tasks, text from $body" in out
    assert f"1 task(s) left out (first: task {empty}, empty 'body')" in err
    path = tmp_path / "newsroom.yaml"
    tune(path, evaluation={"size": 20, "per_batch": 5}, stopping={"rule": "none"})
    config = load_config(path)
    assert config.label_studio is not None and config.label_studio.from_name == "topic"

    project = open_tracked(config, load_project_pool(config), workdir)
    assert project.adopted and len(project.pool) == 150
    tracker = Tracker(workdir, config.name)
    X = project_features(config, project.pool, tmp_path / "cache")
    first = run_cycle(project, X, tracker)

    # The team's labels were enough to train on: no cold start.
    assert first.model_version is not None and first.pull.new == 15
    assert first.n_labels + first.n_eval_labelled == 15
    # Nothing imported: the picks are the project's own tasks, ranked where they are.
    assert task_ids(ls, pid) == order
    picked = project.state.task_map()
    assert len(picked) == config.batch_size + 5 and set(picked.values()) <= set(order[:-1])
    assert first.queue is not None and first.queue.version == first.model_version
    n_open = len(project.state.open_tasks())
    assert model_versions(credentials, pid) == {"team-model": 1, first.model_version: n_open}
    described = ls.projects.get(id=pid)
    assert (described.sampling, described.model_version) == (
        "Uncertainty sampling",
        first.model_version,
    )
    scores = {
        int(p.task): float(p.score)
        for row in project.state.open_tasks()
        for p in ls.predictions.list(task=int(row["task_id"]))
        if p.model_version == first.model_version
    }
    assert served_next(credentials, pid) == min(scores, key=lambda t: scores[t])
    assert queue_order(project).startswith("least sure first")

    # Annotators label the picks in Label Studio but one, which someone deletes; a
    # colleague adds one more task.
    deleted = max(picked.values())
    for task in picked.values():
        if task != deleted:
            annotate(ls, task, gold_of_text[tasks[task]], "topic", "article")
    ls.tasks.delete(id=str(deleted))
    extra_text = str(news.frame[news.text_column].iloc[201])
    ls.projects.import_tasks(id=pid, request=[{"data": {"body": extra_text}}])
    project.close()

    again = open_tracked(config, load_project_pool(config), workdir)
    assert again.added_items == 1 and len(again.pool) == 151
    X = project_features(config, again.pool, tmp_path / "cache")
    second = run_cycle(again, X, tracker)
    assert second.pull.new == len(picked) - 1 and second.pull.tasks_deleted == 1
    assert second.n_labels + second.n_eval_labelled == 15 + len(picked) - 1
    resolved = again.state.resolutions()
    by_item = {f"ls-{t}": gold_of_text[tasks[t]] for t in order[:-1]}
    assert len(resolved) == len(before) + len(picked) - 1
    assert all(r.label == by_item[i] for i, r in resolved.items())
    assert len(task_ids(ls, pid)) == 151  # still only what people imported (and deleted)
    # The deleted task's item is never picked again; the new task's item may be.
    assert f"ls-{deleted}" not in again.state.in_place()
    assert f"ls-{deleted}" not in {r["item_id"] for r in again.state.open_tasks()}
    assert f"ls-{max(task_ids(ls, pid))}" in again.state.in_place()
    # One labelloop version left, on the open tasks only; the team's guess untouched.
    assert second.queue is not None
    versions = model_versions(credentials, pid)
    assert versions == {"team-model": 1, second.queue.version: len(again.state.open_tasks())}


def test_a_project_labelloop_cannot_adopt_is_refused_in_one_line(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    ls = api(credentials)
    xml = (
        '<View><Text name="t" value="$text"/><Choices name="tags" toName="t" '
        'choice="multiple"><Choice value="a"/><Choice value="b"/></Choices></View>'
    )
    pid = int(ls.projects.create(title="tagging", label_config=xml).id)
    result = CliRunner().invoke(
        main,
        [
            "init",
            "tags",
            "--label-studio-project",
            str(pid),
            "--workdir",
            str(workdir),
            "--configs-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1
    assert "takes several choices per task" in result.stderr
    assert result.stderr.count("\n") == 1 and not list(tmp_path.iterdir())
    missing = CliRunner().invoke(
        main,
        [
            "init",
            "gone",
            "--label-studio-project",
            "99999",
            "--workdir",
            str(workdir),
            "--configs-dir",
            str(tmp_path),
        ],
    )
    assert missing.exit_code == 1 and "has no project 99999" in missing.stderr


def _digit_png(pixels: np.ndarray) -> bytes:
    import matplotlib.image

    buffer = io.BytesIO()
    image = np.kron(pixels.reshape(8, 8), np.ones((8, 8)))
    matplotlib.image.imsave(buffer, image, cmap="gray", vmin=0, vmax=16, format="png")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["image", "tabular"])
def test_image_and_table_projects_start_cold_in_pick_order(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path, kind: str
) -> None:
    workdir, credentials = label_studio
    ls = api(credentials)
    name = f"adopted-{kind}"
    if kind == "image":
        digits = load_demo_pool("digits")
        labels = list(digits.classes)
        xml = choices_xml("Image", "scan", "image", "digit", labels)
        pid = int(ls.projects.create(title="scanned digits", label_config=xml).id)
        pixels = digits.frame[list(digits.feature_columns)].to_numpy(dtype=float)[:30]
        files = [
            (f"file{k}", (f"d{k}.png", _digit_png(p), "image/png")) for k, p in enumerate(pixels)
        ]
        # Uploaded as files, the way people put images in Label Studio.
        answer = httpx.post(
            f"{credentials.url}/api/projects/{pid}/import",
            headers=_headers(credentials),
            files=files,
            timeout=120,
        )
        assert answer.status_code < 300, answer.text
    else:
        wine = load_demo_pool("wine")
        labels = list(wine.classes)
        xml = choices_xml("Table", "sample", "measures", "cultivar", labels)
        pid = int(ls.projects.create(title="wine cellar", label_config=xml).id)
        columns = list(wine.feature_columns)
        table = wine.frame[columns].iloc[::4]
        ls.projects.import_tasks(
            id=pid,
            request=[
                {"data": {"measures": {c: float(v) for c, v in row.items()}}}
                for _, row in table.iterrows()
            ],
        )
    order = task_ids(ls, pid)

    out, _ = init(workdir, tmp_path, name, pid)
    assert len(order) == (30 if kind == "image" else len(table))
    assert f"{len(order)} tasks" in out
    path = tmp_path / f"{name}.yaml"
    tune(path, evaluation={"size": 5, "per_batch": 1}, stopping={"rule": "none"})
    config = load_config(path)
    project = open_tracked(config, load_project_pool(config), workdir)
    if kind == "image":
        assert len(config.data.feature_columns) == 16 * 16
        # Each thumbnail fetched from Label Studio is one of the digits uploaded.
        thumbs = project.pool.frame[list(config.data.feature_columns)].to_numpy(dtype=float)
        small = np.stack([np.kron(p.reshape(8, 8), np.ones((2, 2))).ravel() for p in pixels])
        match = np.corrcoef(thumbs, small)[: len(thumbs), len(thumbs) :]
        assert match.max(axis=1).min() > 0.9
        assert len(set(match.argmax(axis=1).tolist())) == len(pixels)
    else:
        assert list(config.data.feature_columns) == sorted(columns)

    X = project_features(config, project.pool, tmp_path / "cache")
    report = run_cycle(project, X, Tracker(workdir, config.name))
    assert report.model_version is None  # nothing labelled yet: cold start
    assert task_ids(ls, pid) == order
    picked = project.state.task_map()
    assert len(picked) == config.batch_size + 1
    assert report.queue is not None and report.queue.version == f"{name}:pick-order"
    first_pick = next(
        row for row in project.state.batch_items(str(report.batch_id)) if row["rank"] == 1
    )
    assert served_next(credentials, pid) == picked[first_pick["item_id"]]
    assert queue_order(project) == f"in pick order (no model yet): {len(picked)} open task(s)"

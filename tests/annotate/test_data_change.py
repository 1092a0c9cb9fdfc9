"""A data file edited under a live project: refused in one line, then accepted on purpose."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.project import next_batch
from labelloop.datasets import load_demo_pool
from tests.helpers import api, choice

pytestmark = pytest.mark.integration


def news_file(tmp_path: Path, *, with_ids: bool) -> Path:
    """Sixty short BBC headlines, twelve per topic, as a CSV (with or without ids)."""
    frame = load_demo_pool("bbc_news").frame
    rows = frame.groupby("label", group_keys=False).head(12)
    table = pd.DataFrame(
        {"id": rows.index, "text": rows["title"].to_numpy(), "label": rows["label"].to_numpy()}
    )
    path = tmp_path / "pool.csv"
    (table if with_ids else table.drop(columns="id")).to_csv(path, index=False)
    return path


def news_config(tmp_path: Path, name: str, *, with_ids: bool) -> Path:
    news_file(tmp_path, with_ids=with_ids)
    ids = "id_column: id, " if with_ids else ""
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndata: {{source: pool.csv, {ids}text_column: text, label_column: label}}\n"
        "featurizer: {kind: tfidf, min_df: 1}\nbatch_size: 10\n"
        "evaluation: {size: 10, per_batch: 5}\nstopping: {rule: none}\n"
    )
    return path


def cli(args: list[str], workdir: Path, cache: Path) -> Result:
    return CliRunner().invoke(
        main, [*args, "--workdir", str(workdir)], env={"LABELLOOP_CACHE_DIR": str(cache)}
    )


def label_everything(config_path: Path, workdir: Path, credentials: Credentials) -> None:
    """Label every task without an annotation with the item's gold label, as people would."""
    ls = api(credentials)
    config = load_config(config_path)
    gold = pd.read_csv(config.data_path())
    by_text = dict(zip(gold["text"], gold["label"], strict=True))
    state = sqlite3.connect(workdir / "projects" / config.name / "state.sqlite")
    project_id = int(state.execute("SELECT value FROM meta WHERE key = 'project_id'").fetchone()[0])
    state.close()
    for task in ls.tasks.list(project=project_id, fields="all"):
        if not task.annotations:
            ls.annotations.create(id=task.id, result=choice(str(by_text[task.data["text"]])))


def snapshot(config_path: Path, workdir: Path) -> dict[str, Any]:
    """Every table of the project's state, to prove a refused command changed nothing."""
    name = load_config(config_path).name
    db = sqlite3.connect(workdir / "projects" / name / "state.sqlite")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {t: sorted(map(repr, db.execute(f"SELECT * FROM {t}"))) for t in tables}
    db.close()
    return out


def test_edited_added_and_removed_rows_are_refused_then_accepted(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    cache = tmp_path / "cache"
    config_path = news_config(tmp_path, "edited", with_ids=True)
    assert cli(["cycle", "--config", str(config_path)], workdir, cache).exit_code == 0
    label_everything(config_path, workdir, credentials)
    assert cli(["cycle", "--config", str(config_path)], workdir, cache).exit_code == 0
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    evaluation = project.state.eval_items()
    trained = sorted(i for i, r in project.state.resolutions().items() if i not in evaluation)
    edited, removed = trained[0], trained[1]
    old_task = project.state.task_map()[edited]
    n_labels = project.state.cycles()[-1]["n_labels"]
    project.close()

    table = pd.read_csv(config.data_path())
    table.loc[table["id"] == edited, "text"] = "An entirely different story about something else"
    table = table[table["id"] != removed]
    new_row = {"id": "fresh-1", "text": "A new headline nobody has seen", "label": "tech"}
    table = pd.concat([table, pd.DataFrame([new_row])])
    table.to_csv(config.data_path(), index=False)
    ls_tasks = len(list(api(credentials).tasks.list(project=project.project_id)))
    before = snapshot(config_path, workdir)

    refused = cli(["cycle", "--config", str(config_path)], workdir, cache)
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: data file pool.csv changed since the project was built: 1 item changed, "
        f"1 added, 1 removed; run `labelloop accept-data --config {config_path}` to accept "
        "(changed items go back to people)\n"
    )
    pushed = cli(["push", "--config", str(config_path)], workdir, cache)
    assert pushed.exit_code == 1 and "changed since the project was built" in pushed.stderr
    assert snapshot(config_path, workdir) == before
    assert len(list(api(credentials).tasks.list(project=project.project_id))) == ls_tasks

    accepted = cli(["accept-data", "--config", str(config_path)], workdir, cache)
    assert accepted.exit_code == 0, accepted.output
    assert "1 item changed, 1 added, 1 removed" in accepted.stdout
    assert "2 annotation(s) kept as history" in accepted.stdout

    again = cli(["cycle", "--config", str(config_path)], workdir, cache)
    assert again.exit_code == 0, again.output
    project = open_tracked(config, load_project_pool(config), workdir)
    state = project.state
    assert state.cycles()[-1]["n_labels"] == n_labels - 2  # neither is trained on
    assert edited not in state.resolutions() and removed not in state.resolutions()
    history = {r["item_id"] for r in state.annotation_rows() if r["retired"]}
    assert history == {edited, removed}  # kept, not used
    assert removed not in state.task_map()
    assert state.task_map().get(edited) != old_task  # the old task no longer counts
    X = project_features(config, project.pool, cache)
    offered, _, _ = next_batch(project, X, len(project.pool))
    offered_ids = {d.item_id for d in offered} | set(state.task_map())
    assert edited in offered_ids and "fresh-1" in offered_ids  # back to people; new one joins
    assert removed not in offered_ids


def test_generated_ids_an_edit_is_refused_not_a_key_error(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    cache = tmp_path / "cache"
    config_path = news_config(tmp_path, "generated", with_ids=False)
    assert cli(["cycle", "--config", str(config_path)], workdir, cache).exit_code == 0
    label_everything(config_path, workdir, credentials)
    assert cli(["cycle", "--config", str(config_path)], workdir, cache).exit_code == 0
    path = load_config(config_path).data_path()

    table = pd.read_csv(path)
    grown = pd.concat([table, pd.DataFrame([{"text": "One more headline", "label": "tech"}])])
    grown.to_csv(path, index=False)
    added = cli(["cycle", "--config", str(config_path)], workdir, cache)
    assert added.exit_code == 0, added.output  # a growing pool needs no accepting
    assert "note: 1 new item(s) in pool.csv joined the pool" in added.stderr

    labelled = set(pd.read_csv(path)["text"].head(60))
    grown.loc[grown["text"].isin(labelled), "text"] += " (corrected)"
    grown.to_csv(path, index=False)
    refused = cli(["cycle", "--config", str(config_path)], workdir, cache)
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.startswith("error: data file pool.csv changed since the project was")
    assert "0 items changed, 60 added, 60 removed" in refused.stderr
    assert cli(["accept-data", "--config", str(config_path)], workdir, cache).exit_code == 0
    again = cli(["cycle", "--config", str(config_path)], workdir, cache)
    assert again.exit_code == 0, again.output
    assert again.exception is None


def test_a_running_run_reloads_the_pool_after_accept_data(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys
    import time

    workdir, _ = label_studio
    cache = tmp_path / "cache"
    config_path = news_config(tmp_path, "reloads", with_ids=True)
    assert cli(["cycle", "--config", str(config_path)], workdir, cache).exit_code == 0
    run = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "labelloop"),
            *("run", "--config", str(config_path), "--workdir", str(workdir)),
            *("--poll", "1", "--idle-timeout", "25"),
        ],
        env={**os.environ, "LABELLOOP_CACHE_DIR": str(cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        state = workdir / "projects" / "reloads" / "state.sqlite"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # cycle 2 pushed: run now polls and sleeps
            with sqlite3.connect(state) as db:
                done = db.execute("SELECT COUNT(*) FROM cycles WHERE status = 'pushed'")
                if done.fetchone()[0] >= 2 or run.poll() is not None:
                    break
            time.sleep(0.5)
        assert run.poll() is None, run.communicate()
        pool = tmp_path / "pool.csv"
        table = pd.read_csv(pool)
        table.loc[0, "text"] = "An edited headline nobody has seen"
        table.to_csv(pool, index=False)
        accepted = CliRunner().invoke(
            main,
            ["accept-data", "--config", str(config_path), "--workdir", str(workdir)],
            env={"LABELLOOP_CACHE_DIR": str(cache), "LABELLOOP_LOCK_WAIT": "60"},
        )
        assert accepted.exit_code == 0, accepted.output
        _, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err[-800:]
    assert "the data file was accepted anew (labelloop accept-data): reloading the pool" in err
    assert "Traceback" not in err

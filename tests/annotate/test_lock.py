"""One project lock for every command that changes state, against a real Label Studio."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.loop.features import load_project_pool
from labelloop.annotate.loop.lock import project_lock
from labelloop.annotate.loop.project import open_project
from tests.helpers import api

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "labelloop")


def wine(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndata: {{source: 'bundled:wine'}}\nfeaturizer: {{kind: numeric}}\n"
        "batch_size: 6\nevaluation: {size: 30, per_batch: 5}\nstopping: {rule: none}\n"
    )
    return path


def test_two_pushes_at_once_give_one_task_per_item(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config_path = wine(tmp_path, "twopush")
    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    command = [EXE, "push", "--config", str(config_path), "--workdir", str(workdir)]
    both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    both.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = [p.communicate(timeout=240) for p in both]
    assert [p.returncode for p in both] == [0, 0], results
    config = load_config(config_path)
    with open_project(config, load_project_pool(config), workdir) as project:
        tasks = list(api(credentials).tasks.list(project=project.project_id, fields="all"))
        items = [t.data["item_id"] for t in tasks]
        assert len(items) == 12 and len(set(items)) == 12  # two batches of 6, none twice
        assert set(project.state.task_map()) == set(items)


def _export_in_child(config_path: str, workdir: str, cache: str, out: str) -> None:
    """`labelloop export` in a forked child (imports already loaded), its stderr to a file."""
    result = CliRunner().invoke(
        main,
        ["export", "--config", config_path, "--workdir", workdir, "--out", out],
        env={"LABELLOOP_CACHE_DIR": cache, "LABELLOOP_LOCK_WAIT": "60"},
    )
    Path(out + ".stderr").write_text(result.stderr)
    os._exit(result.exit_code)


def test_export_waits_for_the_lock_and_runs_beside_a_sleeping_run(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    import multiprocessing

    workdir, _ = label_studio
    config_path = wine(tmp_path, "beside")
    cache = tmp_path / "cache"
    out = tmp_path / "labels.csv"
    child = multiprocessing.get_context("fork").Process(
        target=_export_in_child, args=(str(config_path), str(workdir), str(cache), str(out))
    )
    with project_lock(workdir, "beside", "cycle"):
        child.start()
        time.sleep(3)
        assert child.exitcode is None  # still waiting for us
    child.join(timeout=120)
    assert child.exitcode == 0
    stderr = Path(str(out) + ".stderr").read_text()
    assert f"waiting for the project lock held by pid {os.getpid()} (cycle)" in stderr

    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(cache)}
    command = [EXE, "run", "--config", str(config_path), "--workdir", str(workdir)]
    run = subprocess.Popen(
        [*command, "--poll", "1", "--idle-timeout", "20"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        state = workdir / "projects" / "beside" / "state.sqlite"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # cycle 1 pushed: run now polls and sleeps
            if run.poll() is not None or "pushed" in _cycles(state):
                break
            time.sleep(0.5)
        assert run.poll() is None, run.communicate()
        result = CliRunner().invoke(
            main,
            ["export", "--config", str(config_path), "--workdir", str(workdir), "--out", str(out)],
            env={"LABELLOOP_CACHE_DIR": str(cache), "LABELLOOP_LOCK_WAIT": "10"},
        )
        assert result.exit_code == 0, result.stderr
        assert run.poll() is None  # run goes on beside it
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err[-800:]


def _cycles(state: Path) -> str:
    import sqlite3

    if not state.exists():
        return ""
    db = sqlite3.connect(state)
    try:
        return " ".join(r[0] for r in db.execute("SELECT status FROM cycles"))
    except sqlite3.OperationalError:
        return ""
    finally:
        db.close()

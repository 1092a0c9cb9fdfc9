"""The annotator's screen, in a real browser: Debian's Chromium driven by Playwright.

An annotator logs in, opens "Label All Tasks", gets the task labelloop ranks first
(the one the champion is least sure of), labels one with the mouse and one with a
hotkey, skips one; `labelloop pull` then mirrors exactly that, and `labelloop run`
starts the next cycle. Screenshots of the queue and the labelling screen go to
``$LABELLOOP_SCREENSHOTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio.server import (
    Credentials,
    _label_studio_environment,
    find_label_studio,
)
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.tracking import Tracker
from tests.helpers import api, label_tasks

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's probe runs it: no sandbox as root, no calls to Google's hosts.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def annotator(workdir: Path, credentials: Credentials) -> tuple[str, str]:
    """Create an annotator with a password (Label Studio's own reset_password sets it)."""
    email, password = "annotator@labelloop.local", "annotator-pass-4821"
    ls = api(credentials)
    if not any(u.email == email for u in ls.users.list()):
        ls.users.create(username="annotator", email=email)
    environment = _label_studio_environment(
        credentials, workdir / "label-studio" / "data", loopback_webhook=False
    )
    done = subprocess.run(
        [str(find_label_studio()), "reset_password", "--username", email, "--password", password],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return email, password


def least_sure_open_task(project: Any, credentials: Credentials) -> int:
    ls = api(credentials)
    scores = {}
    for row in project.state.open_tasks():
        (prediction,) = list(ls.predictions.list(task=int(row["task_id"])))
        scores[int(row["task_id"])] = prediction.score
    return min(scores, key=lambda t: (scores[t], t))


def test_an_annotator_labels_in_the_browser_and_the_loop_follows(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("LABELLOOP_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    workdir, credentials = label_studio
    config_path = tmp_path / "browser.yaml"
    config_path.write_text(
        "name: browser\ndata: {source: 'bundled:bbc_news'}\n"
        "featurizer: {kind: tfidf, max_features: 5000}\nbatch_size: 8\nbudget: 200\n"
        "evaluation: {size: 40, per_batch: 2}\nstopping: {rule: none, new_labels_per_cycle: 2}\n"
    )
    config = load_config(config_path)
    project = open_tracked(config, load_project_pool(config), workdir)
    X = project_features(config, project.pool, tmp_path / "cache")
    tracker = Tracker(workdir, config.name)
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    run_cycle(project, X, tracker)
    label_tasks(project, credentials, lambda item, row: str(gold[item]), to_name="text")
    run_cycle(project, X, tracker)  # a champion: the queue is in its order now
    first = least_sure_open_task(project, credentials)
    item_of = {t: i for i, t in project.state.task_map().items()}
    email, password = annotator(workdir, credentials)
    served: list[int] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        seen: list[str] = []
        page.on("response", lambda response: seen.append(response.url))
        try:
            page.goto(f"{credentials.url}/user/login")
            page.fill("#email", email)
            page.fill("#password", password)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{credentials.url}/projects/{project.project_id}/data")
            if "/user/login" in page.url:
                page.screenshot(path=str(shots / "login.png"))
                pytest.fail(f"the annotator could not log in (see {shots / 'login.png'})")
            page.get_by_text("Label All Tasks").first.wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1_500)  # the task list draws after its data arrives
            page.screenshot(path=str(shots / "queue.png"))

            def next_task(action: Any) -> int:
                """Do ``action``; return the task Label Studio serves next, once it shows."""
                with page.expect_response(
                    lambda r: "/api/dm/actions?id=next_task" in r.url and r.ok, timeout=60_000
                ) as answer:
                    action()
                task = int(answer.value.json()["id"])
                page.get_by_label("Submit current annotation").wait_for(timeout=60_000)
                page.wait_for_timeout(1_000)  # the editor draws the task it was given
                served.append(task)
                return task

            # "Label All Tasks" asks the Data Manager for the next task: Label Studio's own
            # next-task logic (the project's sampling) answers.
            opened = next_task(page.get_by_text("Label All Tasks").first.click)
            assert opened == first, "the first task is not the one the champion is least sure of"
            submit = page.get_by_label("Submit current annotation")
            # With the mouse: the choice (its text, with its hotkey beside it), then Submit.
            mouse_label = str(gold[item_of[opened]])
            page.get_by_role("radio", name=re.compile(f"^{re.escape(mouse_label)}")).click()
            page.screenshot(path=str(shots / "labelling.png"))
            second_task = next_task(submit.click)
            # With the hotkey: the second label's key is "2".
            page.keyboard.press("2")
            skipped = next_task(submit.click)
            assert len({opened, second_task, skipped}) == 3
            with page.expect_response(lambda r: "/skip" in r.url or "annotations" in r.url):
                page.get_by_test_id("bottombar-skip-button").click()
        except Exception:
            page.screenshot(path=str(shots / "failure.png"))
            (shots / "responses.txt").write_text("\n".join(seen))
            raise
        finally:
            browser.close()

    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    base = [sys.executable, "-m", "labelloop.annotate.cli"]
    args = ["--config", str(config_path), "--workdir", str(workdir)]
    pulled = subprocess.run(
        [*base, "pull", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert pulled.returncode == 0, pulled.stderr
    rows = {r["task_id"]: r for r in project.state.annotation_rows() if r["annotator"] == email}
    assert set(rows) == {opened, second_task, skipped}
    assert rows[opened]["labels"] == [mouse_label] and rows[opened]["status"] == "active"
    assert rows[second_task]["labels"] == [project.labels[1]]
    assert rows[skipped]["status"] == "cancelled"

    before = len(project.state.cycles())
    ran = subprocess.run(
        [*base, "run", *args, "--max-cycles", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr
    cycles = project.state.cycles()
    assert len(cycles) == before + 1 and cycles[-1]["status"] == "pushed"
    assert (shots / "queue.png").stat().st_size > 10_000
    assert (shots / "labelling.png").stat().st_size > 10_000

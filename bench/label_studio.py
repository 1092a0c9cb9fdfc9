"""Label Studio round trips against a real server: push with predictions, incremental pull.

Targets: pull 50 new labels from a 10,000-task project in under 1 s, in the same order
of time as from a 1,000-task project.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from bench._pools import bbc_frame
from labelloop.annotate.labelstudio.client import connect, sdk_client
from labelloop.annotate.labelstudio.server import free_port, start_server, stop_server
from labelloop.annotate.labelstudio.sync import prepare_batch, pull_labels, push_pending
from labelloop.annotate.labelstudio.translate import labeling_config
from labelloop.annotate.state.records import TaskDraft
from labelloop.annotate.state.store import StateStore
from labelloop.datasets import TfidfFeaturizer, featurize, pool_from_frame


@dataclass
class Row:
    what: str
    tasks_in_project: int
    seconds: float
    note: str


def _text_pool(size: int) -> Any:
    return pool_from_frame(
        bbc_frame(size, id_prefix="item"),
        source=f"bbc x{size}",
        id_column="id",
        text_column="text",
        label_column="label",
    )


def _drafts(pool: Any, labels: list[str]) -> list[TaskDraft]:
    X = featurize(pool, TfidfFeaturizer(max_features=5000))
    rng = np.random.default_rng(0)
    seed_rows = rng.choice(len(pool), 100, replace=False)
    model = LogisticRegression(max_iter=1000, C=20.0).fit(X[seed_rows], pool.labels[seed_rows])
    proba = model.predict_proba(X)
    best = proba.argmax(axis=1)
    return [
        TaskDraft(
            item,
            {"text": text},
            rank + 1,
            float(1 - proba[rank].max()),
            str(model.classes_[best[rank]]),
            float(proba[rank].max()),
        )
        for rank, (item, text) in enumerate(zip(pool.ids.tolist(), pool.texts, strict=True))
    ]


def _project(gateway: Any, state: StateStore, name: str, labels: list[str]) -> int:
    project_id, _ = gateway.find_or_create_project(
        title=name, label_config=labeling_config("text", labels), project_id=None
    )
    state.set_meta("project_id", str(project_id))
    return int(project_id)


def _push(gateway: Any, state: StateStore, project_id: int, drafts: list[TaskDraft]) -> float:
    payloads = {d.item_id: d.payload for d in drafts}
    start = time.perf_counter()
    prepare_batch(state, drafts, strategy="margin", model_version="bench-v1")
    push_pending(gateway, state, project_id, kind="text", payload_of=lambda i: payloads[i])
    return time.perf_counter() - start


def run(n_new: int = 50, rounds: int = 3) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        print("starting Label Studio (first start runs migrations, about 40 s) ...", flush=True)
        _, credentials, _ = start_server(workdir, port=free_port(), timeout_s=300)
        client = sdk_client(credentials.url, credentials.api_key)
        try:
            gateway = connect(workdir)
            for size in (1_000, 10_000):
                pool = _text_pool(size)
                labels = pool.classes
                drafts = _drafts(pool, labels)
                state = StateStore(workdir / f"state-{size}.sqlite")
                project_id = _project(gateway, state, f"bench {size}", labels)
                seconds = _push(gateway, state, project_id, drafts)
                rows.append(
                    Row(
                        f"push {size:,} tasks with predictions (one bulk import)",
                        size,
                        seconds,
                        f"{size / seconds:,.0f} tasks/s",
                    )
                )
                pull_labels(gateway, state, project_id, labels)  # sets the cursor
                tasks = state.task_map()
                gold = dict(zip(pool.ids.tolist(), pool.labels.tolist(), strict=True))
                order = list(tasks)
                timings = []
                for round_ in range(rounds):
                    for item in order[round_ * n_new : (round_ + 1) * n_new]:
                        client.annotations.create(
                            id=tasks[item],
                            result=[
                                {
                                    "from_name": "label",
                                    "to_name": "text",
                                    "type": "choices",
                                    "value": {"choices": [gold[item]]},
                                }
                            ],
                        )
                    start = time.perf_counter()
                    report = pull_labels(gateway, state, project_id, labels)
                    timings.append(time.perf_counter() - start)
                    assert report.new == n_new, report
                rows.append(
                    Row(
                        f"pull {n_new} new labels",
                        size,
                        statistics.median(timings),
                        f"median of {rounds}; {report.tasks_fetched} tasks fetched",
                    )
                )
                state.close()
            gateway.close()
        finally:
            client._labelloop_http.close()
            stop_server(workdir)
    return rows


def table(rows: list[Row]) -> Any:
    from rich.table import Table

    out = Table(title="Label Studio round trips (real server on 127.0.0.1)", title_justify="left")
    for column in ("operation", "tasks in project", "seconds", "note"):
        out.add_column(
            column, justify="right" if column in ("tasks in project", "seconds") else "left"
        )
    for row in rows:
        out.add_row(row.what, f"{row.tasks_in_project:,}", f"{row.seconds:.3f}", row.note)
    return out

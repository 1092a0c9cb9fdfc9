"""Helpers the integration tests share: SDK clients, configs, pushes and annotations.

Test modules import from here, never from one another; fixtures live in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from labelloop.annotate.labelstudio.client import sdk_client
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.labelstudio.sync import prepare_batch, push_pending
from labelloop.annotate.loop.features import project_features
from labelloop.annotate.loop.project import LabellingProject, next_batch, payload_function

_CLIENTS: dict[str, Any] = {}


def api(credentials: Credentials) -> Any:
    """One SDK client per server for the whole session (closed by the server fixture)."""
    if credentials.url not in _CLIENTS:
        _CLIENTS[credentials.url] = sdk_client(credentials.url, credentials.api_key)
    return _CLIENTS[credentials.url]


def served_next(credentials: Credentials, project_id: int) -> int:
    """The task Label Studio's own ``/next`` gives the next annotator ("Label All Tasks")."""
    import httpx

    headers = api(credentials)._client_wrapper.get_headers()
    answer = httpx.get(
        f"{credentials.url}/api/projects/{project_id}/next", headers=headers, timeout=60
    )
    answer.raise_for_status()
    return int(answer.json()["id"])


def close_clients() -> None:
    """Close every client ``api`` opened."""
    for client in _CLIENTS.values():
        client._labelloop_http.close()
    _CLIENTS.clear()


def write_config(
    tmp_path: Path, name: str, source: str = "bundled:bbc_news", extra: str = ""
) -> Path:
    featurizer = (
        "{kind: tfidf, max_features: 5000}" if source == "bundled:bbc_news" else "{kind: numeric}"
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndata: {{source: '{source}'}}\nfeaturizer: {featurizer}\n"
        f"model: {{params: {{max_iter: 1000, C: 20.0}}}}\nbatch_size: 10\n{extra}"
    )
    return path


def choice(label: str, to_name: str = "text") -> list[dict[str, Any]]:
    return [
        {"from_name": "label", "to_name": to_name, "type": "choices", "value": {"choices": [label]}}
    ]


def push(project: LabellingProject, n: int, cache: Path) -> str:
    X = project_features(project.config, project.pool, cache)
    drafts, strategy, version = next_batch(project, X, n)
    batch = prepare_batch(project.state, drafts, strategy=strategy, model_version=version)
    report = push_pending(
        project.gateway,
        project.state,
        project.project_id,
        kind=project.kind,
        payload_of=payload_function(project.kind, project.pool),
    )
    assert report is not None and report.batch_id == batch
    return batch


def label_tasks(
    project: Any,
    credentials: Credentials,
    choose: Callable[[str, Any], str | None],
    to_name: str = "table",
) -> int:
    """Label unannotated tasks with ``choose(item_id, batch row)`` (None: not yet)."""
    ls = api(credentials)
    annotated = {r["task_id"] for r in project.state.annotation_rows()}
    rows = {r["item_id"]: r for r in project.state.prediction_outcomes()}
    done = 0
    for item, task in project.state.task_map().items():
        if task in annotated or list(ls.annotations.list(id=task)):
            continue
        label = choose(item, rows.get(item))
        if label is None:  # left for later
            continue
        ls.annotations.create(id=task, result=choice(label, to_name=to_name))
        done += 1
    return done


def last_batch_guesses(state_file: Path) -> tuple[dict[str, float | None], list[str]]:
    """The last cycle's batch, item -> the confidence of its guess; and the training items.

    Training items are the labelled ones outside the evaluation set, sorted.
    """
    from labelloop.annotate.state.store import StateStore

    state = StateStore(state_file)
    try:
        batch = state.cycles()[-1]["batch_id"]
        guesses = {r["item_id"]: r["confidence"] for r in state.batch_items(batch)}
        return guesses, sorted(set(state.resolutions()) - state.eval_items())
    finally:
        state.close()


def write_topic_parquet(folder: Path, n_rows: int, files: int, row_group_size: int) -> Path:
    """Short texts on two topics (sport, money) in ``files`` Parquet files: doc, body, label."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    topics = {
        "sport": ["the team won the match", "a late goal settled the final", "the coach left"],
        "money": ["the bank raised its rates", "shares fell on the market", "the budget grew"],
    }
    rows = []
    for k in range(n_rows):
        label = "sport" if k % 2 else "money"
        rows.append(
            {"doc": f"d{k:03d}", "body": f"{topics[label][k % 3]}, day {k}", "label": label}
        )
    folder.mkdir(parents=True)
    per_file = n_rows // files
    for part in range(files):
        table = pa.Table.from_pylist(rows[per_file * part : per_file * (part + 1)])
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=row_group_size)
    return folder

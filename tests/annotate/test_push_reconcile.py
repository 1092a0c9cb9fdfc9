"""Integration: a push ends with exactly one task per item, whatever failed on the way."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from label_studio_sdk.client import LabelStudio

from labelloop.annotate.config.schema import load_config
from labelloop.annotate.labelstudio import sync
from labelloop.annotate.labelstudio.client import LabelStudioGateway
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.labelstudio.sync import prepare_batch, push_pending
from labelloop.annotate.labelstudio.translate import task_json
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.project import LabellingProject, next_batch, payload_function
from tests.helpers import api, choice, write_config

pytestmark = pytest.mark.integration


class TimeoutAfterImport(httpx.BaseTransport):
    """Lets every request reach Label Studio; some imports then time out at the client.

    As a slow server would: Label Studio creates the tasks, the answer never arrives.
    """

    def __init__(self, failing: set[int]) -> None:
        self.inner = httpx.HTTPTransport()
        self.failing = failing
        self.imports = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/import"):
            self.imports += 1
            if self.imports in self.failing:
                response.read()
                response.close()
                raise httpx.ReadTimeout("the answer did not come in time", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


class GatewayTimeoutAfterImport(httpx.BaseTransport):
    """Lets every request reach Label Studio; the first import's answer becomes a 504.

    As a proxy in front of a slow server does: Label Studio committed the tasks, the
    client is told the gateway timed out.
    """

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.imports = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/import"):
            self.imports += 1
            if self.imports == 1:
                response.read()
                response.close()
                return httpx.Response(504, text="Gateway Time-out", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def _tasks_in_label_studio(credentials: Credentials, project_id: int) -> list[tuple[str, int]]:
    ls = api(credentials)
    tasks = ls.tasks.list(project=project_id, fields="task_only", page_size=500)
    return sorted((str(t.data["item_id"]), int(t.id)) for t in tasks)


def _pending_batch(project: LabellingProject, n: int, cache: Path) -> tuple[str, list[Any]]:
    X = project_features(project.config, project.pool, cache)
    drafts, strategy, version = next_batch(project, X, n)
    batch = prepare_batch(project.state, drafts, strategy=strategy, model_version=version)
    return batch, drafts


def _push_through(project: Any, credentials: Credentials, pool: Any, transport: Any) -> Any:
    """Push the pending batch through ``transport``, with an SDK client as anyone would
    build it (the SDK's own retry default left as it is)."""
    http = httpx.Client(transport=transport, timeout=60)
    plain = project.gateway
    project.gateway = LabelStudioGateway(
        LabelStudio(base_url=credentials.url, api_key=credentials.api_key, httpx_client=http),
        credentials.url,
        backoff_s=0.01,
    )
    try:
        return push_pending(
            project.gateway,
            project.state,
            project.project_id,
            kind=project.kind,
            payload_of=payload_function(project.kind, pool),
        )
    finally:
        http.close()
        plain.close()


def test_an_import_that_times_out_after_label_studio_took_it_is_not_sent_again(
    open_tracked: Any,
    label_studio: tuple[Path, Credentials],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "timeoutpush"))
    pool = load_project_pool(config)
    project = open_tracked(config, pool, workdir)
    batch, _ = _pending_batch(project, 10, tmp_path / "cache")
    # Three imports of 4, 4 and 2 tasks; the second one times out after the server took it.
    monkeypatch.setattr(sync, "IMPORT_CHUNK", 4)
    monkeypatch.setattr(sync, "IMPORT_BACKOFF_S", 0.01, raising=False)
    transport = TimeoutAfterImport(failing={2})
    report = _push_through(project, credentials, pool, transport)
    assert report is not None and report.batch_id == batch
    in_label_studio = _tasks_in_label_studio(credentials, project.project_id)
    items = [item for item, _ in in_label_studio]
    assert len(items) == len(set(items)) == 10
    assert sorted(project.state.task_map().items()) == in_label_studio
    assert project.state.pending_batch() is None
    assert (report.sent, report.already_there) == (10, 0)
    assert transport.imports == 3  # the timed-out chunk was found, not sent again


def test_an_item_with_two_tasks_keeps_one_and_the_annotated_one(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "twotasks"))
    pool = load_project_pool(config)
    project = open_tracked(config, pool, workdir)
    batch, drafts = _pending_batch(project, 5, tmp_path / "cache")
    payload = payload_function(project.kind, pool)

    def as_task(draft: Any) -> dict[str, Any]:
        return task_json(
            type(draft)(draft.item_id, payload(draft.item_id), draft.rank, draft.score),
            kind="text",
            batch_id=batch,
            strategy="margin",
            model_version=None,
        )

    # Label Studio holds the whole batch, plus a second task for the first two items;
    # someone already labelled the second task of item 1.
    project.gateway.import_tasks(project.project_id, [as_task(d) for d in drafts])
    first, second = drafts[0].item_id, drafts[1].item_id
    extra = project.gateway.import_tasks(
        project.project_id, [as_task(drafts[0]), as_task(drafts[1])]
    )
    ls = api(credentials)
    ls.annotations.create(id=extra[1], result=choice("sports"))

    report = push_pending(
        project.gateway, project.state, project.project_id, kind="text", payload_of=payload
    )
    in_label_studio = _tasks_in_label_studio(credentials, project.project_id)
    items = [item for item, _ in in_label_studio]
    assert len(items) == len(set(items)) == 5
    assert report is not None and report.duplicates_removed == 2
    assert len(report.warnings) == 2 and repr(first) in report.warnings[0]
    assert dict(in_label_studio)[second] == extra[1]  # the one with the label was kept
    assert sorted(project.state.task_map().items()) == in_label_studio
    assert (report.sent, report.already_there) == (0, 5)


def test_an_import_answered_504_after_label_studio_took_it_is_not_sent_again(
    open_tracked: Any,
    label_studio: tuple[Path, Credentials],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "proxy504"))
    pool = load_project_pool(config)
    project = open_tracked(config, pool, workdir)
    batch, _ = _pending_batch(project, 6, tmp_path / "cache")
    monkeypatch.setattr(sync, "IMPORT_BACKOFF_S", 0.01, raising=False)
    transport = GatewayTimeoutAfterImport()
    report = _push_through(project, credentials, pool, transport)
    assert report is not None and report.batch_id == batch
    in_label_studio = _tasks_in_label_studio(credentials, project.project_id)
    items = [item for item, _ in in_label_studio]
    assert len(items) == len(set(items)) == 6  # one task per item, no second set
    assert sorted(project.state.task_map().items()) == in_label_studio
    assert transport.imports == 1  # found after the 504, never sent again
    assert (report.sent, report.duplicates_removed) == (6, 0)


def test_tasks_of_items_that_left_an_unconfirmed_batch_are_never_mapped(
    open_tracked: Any, label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    config = load_config(write_config(tmp_path, "leftbatch"))
    pool = load_project_pool(config)
    project = open_tracked(config, pool, workdir)
    batch, drafts = _pending_batch(project, 5, tmp_path / "cache")
    payload = payload_function(project.kind, pool)
    tasks = [
        task_json(
            replace(d, payload=payload(d.item_id)),
            kind="text",
            batch_id=batch,
            strategy="margin",
            model_version=None,
        )
        for d in drafts
    ]
    # A push imported the batch and died before the state confirmed it.
    created = project.gateway.import_tasks(project.project_id, tasks)
    imported = dict(zip([d.item_id for d in drafts], created, strict=True))
    removed, changed, edited = drafts[0].item_id, drafts[1].item_id, drafts[2].item_id
    # Someone already labelled the (old) task of the item whose text then changed.
    api(credentials).annotations.create(id=imported[edited], result=choice("sports"))
    # The data file changed: accept-data takes those items out of the pending batch.
    project.state.accept_data(
        project.state.fingerprints(), changed=[changed, edited], removed=[removed]
    )

    report = push_pending(
        project.gateway, project.state, project.project_id, kind="text", payload_of=payload
    )
    still = {d.item_id: imported[d.item_id] for d in drafts[3:]}
    assert project.state.task_map() == still  # no task for the items that left
    in_label_studio = dict(_tasks_in_label_studio(credentials, project.project_id))
    assert removed not in in_label_studio and changed not in in_label_studio
    assert in_label_studio == {**still, edited: imported[edited]}  # its label is kept
    assert report is not None and report.stale_removed == 2
    assert any(repr(edited) in w and "holds work" in w for w in report.warnings)
    assert project.state.pending_batch() is None

"""Talking to Label Studio: connection, clear errors, retries, the few calls labelloop needs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.core.request_options import RequestOptions

from labelloop.annotate.errors import LabelStudioError, LabelStudioUnavailableError, redact_uri
from labelloop.annotate.labelstudio.server import load_credentials, server_status
from labelloop.annotate.labelstudio.translate import labels_in_config, takes_several_choices

__all__ = [
    "BatchTask",
    "LabelStudioGateway",
    "ProjectCounts",
    "connect",
    "connection_settings",
    "sdk_client",
]

T = TypeVar("T")
_DM_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
# Answers that mean "no service here now" (a proxy or a restarting server), not a refusal.
_UNAVAILABLE = (502, 503, 504)
# The SDK re-sends a request on its own after 5xx, 408, 409, 429 and lost connections
# (two more times by default), a create included: labelloop retries in
# ``LabelStudioGateway.call`` only, where it knows which calls are safe to send again.
_SEND_ONCE: RequestOptions = {"max_retries": 0}


@dataclass(frozen=True)
class BatchTask:
    """One task of a batch as Label Studio holds it.

    ``touched`` is True when someone worked on it: it holds an annotation or a skip.
    """

    task_id: int
    item_id: str
    annotations: int
    touched: bool


@dataclass(frozen=True)
class ConnectionSettings:
    """Where Label Studio is and the key to it (the key is never shown)."""

    url: str
    api_key: str
    source: str

    def __repr__(self) -> str:
        return f"ConnectionSettings(url={self.url!r}, api_key=***, source={self.source!r})"


@dataclass(frozen=True)
class ProjectCounts:
    """What Label Studio holds for labelloop's tasks (those with an ``item_id``).

    ``annotations`` counts annotations that are not skips; ``skipped_tasks`` counts
    tasks with at least one skip.
    """

    tasks: int
    annotations: int
    skipped_tasks: int


def _item(name: str, operator: str, kind: str, value: Any) -> dict[str, Any]:
    """One Data Manager filter on a task field."""
    return {"filter": f"filter:tasks:{name}", "operator": operator, "type": kind, "value": value}


_OURS = _item("data.item_id", "empty", "String", False)  # labelloop's tasks carry an item id


def _all_of(pager: Any) -> Callable[[], list[Any]]:
    """Return a call that reads every page of a listing (retried as a whole)."""
    return lambda: list(pager)


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else getattr(value, key, None)


def connection_settings(workdir: Path) -> ConnectionSettings:
    """``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` if set, else the embedded server's.

    Raises
    ------
    LabelStudioError
        If only one of the two variables is set, or nothing is configured.
    """
    url, key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
    if url and key:
        return ConnectionSettings(url.rstrip("/"), key, "environment")
    if url or key:
        missing = "LABEL_STUDIO_API_KEY" if url else "LABEL_STUDIO_URL"
        raise LabelStudioError(
            f"{missing} is not set (set both, or neither for the embedded server)"
        )
    credentials = load_credentials(workdir)
    state, _ = server_status(workdir)
    if credentials is not None and state is None:
        # Started once, not running now: stopped, or being restarted.
        raise LabelStudioUnavailableError(
            f"the embedded Label Studio at {credentials.url} is not running "
            "(start it with `labelloop server start`)",
            url=credentials.url,
        )
    if credentials is None or state is None:
        raise LabelStudioError(
            "no Label Studio configured: run `labelloop server start`, or set LABEL_STUDIO_URL "
            "and LABEL_STUDIO_API_KEY"
        )
    return ConnectionSettings(state.url, credentials.api_key, "embedded server")


class LabelStudioGateway:
    """The calls labelloop makes, each with bounded retries and a one-line error.

    Parameters
    ----------
    client : LabelStudio
        An SDK client.
    url : str
        For messages.
    retries : int
        Attempts after the first for connection failures and 5xx answers.
    backoff_s : float
        First wait; doubles each retry.
    """

    def __init__(
        self, client: LabelStudio, url: str, retries: int = 3, backoff_s: float = 0.5
    ) -> None:
        self.client = client
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        # An adopted project's tasks are all labelloop's: no item id filter then.
        self.whole_project = False

    def close(self) -> None:
        """Close the HTTP connections."""
        http = getattr(self.client, "_labelloop_http", None)
        if http is not None:
            http.close()

    def call(self, what: str, function: Callable[[], T], *, retry: bool = True) -> T:
        """Run one API call; translate failures into :class:`LabelStudioError`.

        Connection failures, timeouts and 5xx answers are retried (``retries`` times,
        with backoff) unless ``retry`` is False: a call that creates something must not
        be sent twice blindly. When Label Studio cannot be reached or answers 502, 503
        or 504, the error is a :class:`LabelStudioUnavailableError`; any other refusal
        (400, 401, 403, 404, ...) is a plain :class:`LabelStudioError`.
        """
        attempts = self.retries + 1 if retry else 1
        wait = self.backoff_s
        for attempt in range(attempts):
            try:
                return function()
            except (httpx.TransportError, ApiError) as exc:
                status = getattr(exc, "status_code", None)
                retryable = status is None or status >= 500
                if not retryable or attempt == attempts - 1:
                    raise self._error(what, exc, attempts) from None
                time.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, what: str, exc: Exception, attempts: int) -> LabelStudioError:
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        if status in _UNAVAILABLE:
            return LabelStudioUnavailableError(
                f"Label Studio at {self.url} is unavailable (HTTP {status}) after {attempts} "
                f"attempt(s) while trying to {what}",
                url=self.url,
                status=status,
                body=body,
            )
        if status == 401 or status == 403:
            return LabelStudioError(
                f"Label Studio at {self.url} refused the API key (HTTP {status}) "
                f"while trying to {what}",
                status=status,
                body=body,
            )
        if status == 404:
            return LabelStudioError(
                f"Label Studio at {self.url}: not found (HTTP 404) while trying to {what}",
                status=status,
                body=body,
            )
        if status is not None:
            detail = body
            if isinstance(detail, dict):
                detail = detail.get("detail") or detail.get("validation_errors") or detail
            text = str(detail).replace("\n", " ")[:200]
            return LabelStudioError(
                f"Label Studio at {self.url} answered HTTP {status} while trying to {what}: {text}",
                status=status,
                body=body,
            )
        kind = type(exc).__name__
        return LabelStudioUnavailableError(
            f"cannot reach Label Studio at {self.url} ({kind}) after {attempts} "
            f"attempt(s) while trying to {what}",
            url=self.url,
        )

    # -- checks and projects ------------------------------------------------------
    def check(self) -> None:
        """Verify the server answers and accepts the key."""
        self.call("list projects", lambda: self.client.projects.list(page_size=1))

    def find_or_create_project(
        self, *, title: str, label_config: str, project_id: int | None, description: str = ""
    ) -> tuple[int, bool]:
        """Find the project (by stored id, else by title) or create it.

        Raises
        ------
        LabelStudioError
            If a stored project id is gone, or the project's labels differ from ours, or it
            takes several choices per item where ours takes one (or the reverse).
        """
        wanted = labels_in_config(label_config)
        several = takes_several_choices(label_config)
        if project_id is not None:
            project = self._project(
                project_id,
                f"Label Studio project {project_id} ({title!r}) is missing at {self.url}; "
                "it was deleted or this is another server",
            )
            self._check_labels(project, wanted, several)
            return int(project.id), False
        found = [
            p
            for p in self.call(
                "list projects", lambda: list(self.client.projects.list(title=title))
            )
            if p.title == title
        ]
        if found:
            self._check_labels(found[0], wanted, several)
            return int(found[0].id), False
        project = self.call(
            "create the project",
            lambda: self.client.projects.create(
                title=title,
                description=description,
                label_config=label_config,
                sampling="Sequential sampling",
                show_skip_button=True,
                request_options=_SEND_ONCE,
            ),
        )
        return int(project.id), True

    def _check_labels(self, project: Any, wanted: Sequence[str], several: bool) -> None:
        xml = project.label_config or "<View/>"
        have = labels_in_config(xml)
        if sorted(have) != sorted(wanted):
            raise LabelStudioError(
                f"Label Studio project {project.id} ({project.title!r}) has labels "
                f"[{', '.join(sorted(have))}] but the config says [{', '.join(sorted(wanted))}]"
            )
        if takes_several_choices(xml) != several:
            takes = "several choices" if not several else "one choice"
            raise LabelStudioError(
                f"Label Studio project {project.id} ({project.title!r}) takes {takes} per "
                f"item but the config says labelling.multiple: {str(several).lower()}"
            )

    def use_uncertainty_sampling(self, project_id: int, version: str) -> None:
        """Serve annotators the open task with the lowest prediction score of ``version``.

        Community Label Studio takes ``sampling`` and ``model_version`` through the API
        (its settings page offers uncertainty sampling only in Enterprise). Only tasks
        holding a prediction of ``version`` are served this way, so every open task
        needs one first (:meth:`replace_predictions`).
        """
        self.call(
            "set uncertainty sampling",
            lambda: self.client.projects.update(
                id=project_id, model_version=version, sampling="Uncertainty sampling"
            ),
        )

    def connect_model(self, project_id: int, url: str) -> int:
        """Connect (or reconnect) ``url`` as the project's model; return the connection id.

        Label Studio calls ``/health`` and ``/setup`` on it before it answers, and adds a
        webhook to ``<url>/webhook`` for the project's annotation events. A connection
        labelloop made before (same title, or same host and port) is updated, not
        doubled. The URL's path is the serve secret: it never reaches an error message.

        Raises
        ------
        LabelStudioError
            If Label Studio refuses the connection (its reason, the secret hidden).
        """
        parts = urlsplit(url)
        secret = parts.path.strip("/")
        found = self.call(
            "list connected models", lambda: list(self.client.ml.list(project=project_id))
        )
        same = [
            m
            for m in found
            if m.title == "labelloop" or urlsplit(str(m.url)).netloc == parts.netloc
        ]
        settings: dict[str, Any] = {
            "url": url,
            "title": "labelloop",
            "auth_method": "NONE",
            "is_interactive": False,
        }
        try:
            if same:
                model = self.call(
                    "reconnect the model",
                    lambda: self.client.ml.update(id=same[0].id, **settings),
                )
            else:
                model = self.call(
                    "connect the model",
                    lambda: self.client.ml.create(project=project_id, **settings),
                    retry=False,
                )
        except LabelStudioError as exc:
            if not secret or secret not in str(exc):
                raise
            exc.args = (str(exc).replace(secret, "***"),)
            exc.body = None
            raise exc from None
        return int(model.id)

    def sampling(self, project_id: int) -> tuple[str, str]:
        """Return the project's task order (``sampling``) and its ``model_version``."""
        project = self.call(
            f"open project {project_id}", lambda: self.client.projects.get(id=project_id)
        )
        return str(project.sampling or ""), str(project.model_version or "")

    def replace_predictions(
        self,
        project_id: int,
        predictions: Sequence[dict[str, Any]],
        *,
        chunk: int = 1_000,
        versions: Sequence[str] | None = None,
    ) -> None:
        """Give each task in ``predictions`` exactly that prediction, dropping its others.

        The tasks' old predictions go first (one Data Manager action per ``chunk`` tasks),
        then the new ones are imported in bulk, each request sent once: a request that
        fails after Label Studio took it can leave a task with two predictions or none
        until the next call, which deletes and imports again. With ``versions`` (an
        adopted project, whose tasks may hold predictions of the team's own models) only
        the predictions of those model versions are deleted, project-wide, instead.
        """
        if versions is not None:
            for version in versions:
                self.delete_model_version(project_id, version)
        tasks = [] if versions is not None else sorted({int(p["task"]) for p in predictions})
        for start in range(0, len(tasks), chunk):
            ids = tasks[start : start + chunk]
            self.call(
                "delete old predictions",
                lambda ids=ids: self.client.actions.create(  # type: ignore[misc]
                    id="delete_tasks_predictions",
                    project=project_id,
                    selected_items={"all": False, "included": ids},
                ),
            )
        rows = list(predictions)
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            self.call(
                "import predictions",
                lambda part=part: self.client.projects.import_predictions(  # type: ignore[misc]
                    id=project_id, request=part, request_options=_SEND_ONCE
                ),
                retry=False,
            )

    # -- tasks --------------------------------------------------------------------
    def _query(self, project_id: int, items: list[dict[str, Any]], fields: str) -> Iterator[Any]:
        query = json.dumps({"filters": {"conjunction": "and", "items": items}})
        return iter(
            self.call(
                "query tasks",
                lambda: list(
                    self.client.tasks.list(
                        project=project_id, query=query, fields=fields, page_size=500
                    )
                ),
            )
        )

    def tasks_of_batch(self, project_id: int, batch_id: str) -> dict[str, list[BatchTask]]:
        """Return item id -> the batch's tasks for it in Label Studio, lowest id first.

        An item normally has one task; several mean a duplicate (an import that was sent
        twice), which the caller resolves: nothing is collapsed here.
        """
        items = [
            {
                "filter": "filter:tasks:data.labelloop_batch",
                "operator": "equal",
                "type": "String",
                "value": batch_id,
            }
        ]
        found: dict[str, list[BatchTask]] = {}
        for task in sorted(self._query(project_id, items, "task_only"), key=lambda t: int(t.id)):
            annotations = int(getattr(task, "total_annotations", 0) or 0)
            item_id = str(task.data["item_id"])
            touched = bool(annotations or getattr(task, "cancelled_annotations", 0))
            found.setdefault(item_id, []).append(
                BatchTask(int(task.id), item_id, annotations, touched)
            )
        return found

    def delete_task(self, task_id: int) -> None:
        """Delete one task; a task already gone counts as deleted."""
        try:
            self.call(f"delete task {task_id}", lambda: self.client.tasks.delete(id=str(task_id)))
        except LabelStudioError as exc:
            if exc.status != 404:  # a retried delete that had worked
                raise

    def tasks_changed_since(self, project_id: int, since: str | None) -> list[Any]:
        """Return tasks (with all their annotations) whose annotations may have changed.

        Three filtered Data Manager queries, so the cost follows the number of changes,
        not the project's size, even right after a large push:

        * tasks created before ``since`` and updated after it (new, changed or deleted
          annotations on older tasks);
        * tasks created after ``since`` that have an annotation;
        * tasks created after ``since`` that were skipped.

        New tasks nobody has touched are never fetched. ``since`` None fetches every task
        with an annotation or a skip.
        """

        def item(name: str, operator: str, kind: str, value: Any) -> dict[str, Any]:
            return {
                "filter": f"filter:tasks:{name}",
                "operator": operator,
                "type": kind,
                "value": value,
            }

        touched = [
            [item("total_annotations", "greater", "Number", 0)],
            [item("cancelled_annotations", "greater", "Number", 0)],
        ]
        queries = []
        if since is None:
            queries = touched
        else:
            queries.append(
                [
                    item("created_at", "less_or_equal", "Datetime", since),
                    item("updated_at", "greater", "Datetime", since),
                ]
            )
            queries.extend(
                [[item("created_at", "greater", "Datetime", since), *q] for q in touched]
            )
        found: dict[int, Any] = {}
        for items in queries:
            for task in self._query(project_id, items, "all"):
                found[int(task.id)] = task
        return [found[k] for k in sorted(found)]

    # -- what the project holds, cheaply (for mirroring deletions) ----------------
    def counts(self, project_id: int) -> ProjectCounts:
        """Count labelloop's tasks, their annotations and their skipped tasks: two requests.

        Only the Data Manager's totals are read (one task id per answer), so the cost does
        not grow with the project. Tasks without an ``item_id`` (not labelloop's) are left
        out, so the numbers compare with the state store's.
        """
        ours = self._page(project_id, self._ours(), "task_only", "id", page_size=1)
        skipped = self._page(
            project_id,
            [*self._ours(), _item("cancelled_annotations", "greater", "Number", 0)],
            "task_only",
            "id",
            page_size=1,
        )
        return ProjectCounts(
            tasks=int(ours.response.total or 0),
            annotations=int(ours.response.total_annotations or 0),
            skipped_tasks=int(skipped.response.total or 0),
        )

    def task_ids(self, project_id: int) -> set[int]:
        """Return the ids of every labelloop task in the project (ids only, no data)."""
        pager = self._page(project_id, self._ours(), "task_only", "id", page_size=5_000)
        return {int(t.id) for t in self.call("list task ids", _all_of(pager))}

    def annotation_ids(self, project_id: int) -> set[int]:
        """Return the ids of every annotation and skip on labelloop's tasks (ids only)."""
        found: set[int] = set()
        for touched in ("total_annotations", "cancelled_annotations"):
            items = [*self._ours(), _item(touched, "greater", "Number", 0)]
            pager = self._page(project_id, items, "all", "id,annotations", 1_000)
            tasks = self.call("list annotation ids", _all_of(pager))
            found.update(int(_get(a, "id")) for task in tasks for a in task.annotations or [])
        return found

    def _ours(self) -> list[dict[str, Any]]:
        """Return the filter that keeps labelloop's tasks (none on an adopted project)."""
        return [] if self.whole_project else [_OURS]

    def project_config(self, project_id: int) -> tuple[str, str]:
        """Return an existing project's title and labeling config.

        Raises
        ------
        LabelStudioError
            If the project is not there (404), in one line naming it.
        """
        project = self._project(
            project_id, f"Label Studio has no project {project_id} at {self.url}"
        )
        return str(project.title or ""), str(project.label_config or "")

    def _project(self, project_id: int, missing: str) -> Any:
        """Return one project; a 404 is ``missing``, in one line."""
        try:
            return self.call(
                f"open project {project_id}", lambda: self.client.projects.get(id=project_id)
            )
        except LabelStudioError as exc:
            if exc.status == 404:
                raise LabelStudioError(missing) from None
            raise

    def task_data(self, project_id: int, after: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """Return ``(task id, data)`` of every task with an id above ``after``, by id."""
        items = [_item("id", "greater", "Number", after)] if after else []
        pager = self._page(project_id, items, "task_only", "id,data", page_size=1_000)
        tasks = self.call("list tasks", _all_of(pager))
        return sorted((int(t.id), dict(t.data or {})) for t in tasks)

    def count_tasks_after(self, project_id: int, after: int) -> int:
        """Count the project's tasks with an id above ``after`` (one request)."""
        page = self._page(
            project_id, [_item("id", "greater", "Number", after)], "task_only", "id", 1
        )
        return int(page.response.total or 0)

    def fetch(self, address: str) -> bytes:
        """Download a file a task points at: an absolute URL, or a path on this server.

        Paths (``/data/upload/...``) are asked of this Label Studio with its key, and
        its outages are :class:`LabelStudioUnavailableError` as for any call. Other
        servers get no key, and any failure there (or an address that is not http(s),
        such as a cloud storage URI) is a ``ValueError``: that one file is unreadable.
        """
        wrapper = self.client._client_wrapper
        base = wrapper.get_base_url().rstrip("/")
        scheme = urlsplit(address).scheme
        if scheme and scheme not in ("http", "https"):
            raise ValueError(f"{scheme}:// addresses are not fetched; link the file by http(s)")
        if "://" in address:
            url = address
            own = urlsplit(address).netloc == urlsplit(base).netloc
        else:
            url, own = f"{base}/{address.lstrip('/')}", True
        http = wrapper.httpx_client.httpx_client
        if not own:
            try:
                return bytes(_checked(http.get(url)).content)
            except (httpx.HTTPError, ApiError) as exc:
                raise ValueError(f"{type(exc).__name__} from {urlsplit(url).netloc}") from None
        headers = wrapper.get_headers()

        def get() -> bytes:
            return bytes(_checked(http.get(url, headers=headers)).content)

        return self.call(f"fetch {address[:80]}", get)

    def delete_model_version(self, project_id: int, version: str) -> int:
        """Delete every prediction of one model version in the project; return how many."""
        wrapper = self.client._client_wrapper

        def delete() -> int:
            response = wrapper.httpx_client.httpx_client.request(
                "DELETE",
                f"{wrapper.get_base_url().rstrip('/')}/api/projects/{project_id}/model-versions/",
                json={"model_version": version},
                headers=wrapper.get_headers(),
            )
            answer = _checked(response).json()
            if isinstance(answer, dict):  # {"deleted": n} on some versions, n on others
                answer = next(iter(answer.values()), 0)
            return int(answer or 0)

        return self.call(f"delete predictions of {version}", delete)

    def task_exists(self, task_id: int) -> bool:
        """Ask Label Studio for one task: False only when it answers 404 (deleted).

        A listing read page by page while people delete can skip a live task; this is
        what decides that a task is gone.
        """
        return self._exists(
            f"look up task {task_id}", lambda: self.client.tasks.get(id=str(task_id))
        )

    def annotation_exists(self, annotation_id: int) -> bool:
        """Ask Label Studio for one annotation (or skip): False only on a 404 (deleted)."""
        return self._exists(
            f"look up annotation {annotation_id}",
            lambda: self.client.annotations.get(id=annotation_id),
        )

    def _exists(self, what: str, fetch: Callable[[], Any]) -> bool:
        try:
            self.call(what, fetch)
        except LabelStudioError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _page(
        self,
        project_id: int,
        items: list[dict[str, Any]],
        fields: str,
        include: str,
        page_size: int,
    ) -> Any:
        """Return the first page of a filtered task listing (its pager, with the totals)."""
        query = json.dumps({"filters": {"conjunction": "and", "items": items}})
        return self.call(
            "count tasks",
            lambda: self.client.tasks.list(
                project=project_id,
                query=query,
                fields=fields,
                include=include,
                page_size=page_size,
            ),
        )

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Bulk-import tasks in one request, sent once; returns their ids in request order.

        Never retried, here or by the SDK (whatever client the gateway was given): after
        a timeout or a 5xx Label Studio may have created the tasks, so the caller looks
        them up (``tasks_of_batch``) before sending anything again.
        """
        response = self.call(
            f"import {len(tasks)} tasks",
            lambda: self.client.projects.import_tasks(
                id=project_id, request=tasks, return_task_ids=True, request_options=_SEND_ONCE
            ),
            retry=False,
        )
        ids = list(response.task_ids or [])
        if len(ids) != len(tasks):
            raise LabelStudioError(f"Label Studio created {len(ids)} tasks for {len(tasks)} sent")
        return [int(i) for i in ids]


def _checked(response: httpx.Response) -> httpx.Response:
    """Raise an error answer as the SDK does, so :meth:`LabelStudioGateway.call` reads it."""
    if response.status_code >= 400:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:200]
        raise ApiError(status_code=response.status_code, body=body)
    return response


def connect(workdir: Path, *, retries: int = 3, timeout_s: float = 60.0) -> LabelStudioGateway:
    """Connect to Label Studio and check the key; nothing is written on failure."""
    settings = connection_settings(workdir)
    gateway = LabelStudioGateway(
        # Messages, the state and MLflow see the URL without any credentials it carries.
        sdk_client(settings.url, settings.api_key, timeout_s),
        redact_uri(settings.url),
        retries=retries,
    )
    try:
        gateway.check()
    except BaseException:
        gateway.close()
        raise
    return gateway


def sdk_client(
    url: str,
    api_key: str,
    timeout_s: float = 60.0,
    *,
    transport: httpx.BaseTransport | None = None,
) -> LabelStudio:
    """Build an SDK client on an HTTP client labelloop owns (so it can be closed).

    The client sends every request once: the SDK's own retries are off, so a create is
    never sent again behind labelloop's back (:meth:`LabelStudioGateway.call` retries
    what is safe to retry).

    Parameters
    ----------
    url, api_key : str
        Where Label Studio is, and the key to it.
    timeout_s : float
        Seconds to wait for an answer.
    transport : httpx.BaseTransport, optional
        The HTTP transport underneath (a proxy, or a test's wrapper); httpx's by default.

    Examples
    --------
    >>> client = sdk_client("http://127.0.0.1:8080", "key")
    >>> client._labelloop_http.close()
    """
    http = httpx.Client(timeout=timeout_s, follow_redirects=True, transport=transport)
    client = LabelStudio(
        base_url=url, api_key=api_key, timeout=timeout_s, httpx_client=http, max_retries=0
    )
    client._labelloop_http = http
    return client


def dm_time(value: str) -> str:
    """Format an ISO time the way the Data Manager's Datetime filter wants it."""
    from datetime import UTC, datetime

    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).strftime(_DM_TIME)

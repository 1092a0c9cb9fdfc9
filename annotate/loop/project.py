"""A labelling project: the config's pool, as Label Studio shows it, with its state."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from labelloop.annotate.config.schema import ProjectConfig, build_estimator
from labelloop.annotate.errors import ConfigError
from labelloop.annotate.labelstudio.client import LabelStudioGateway, connect
from labelloop.annotate.labelstudio.sync import FROM_NAME_KEY, MULTIPLE_KEY
from labelloop.annotate.labelstudio.translate import ItemKind, image_data_uri, labeling_config
from labelloop.annotate.loop.data_change import check_data
from labelloop.annotate.state.records import TaskDraft
from labelloop.annotate.state.store import StateStore
from labelloop.datasets import FeatureMatrix, ParquetPool, Pool
from labelloop.learners import PoolLearner, aligned_proba, auto_exploration

if TYPE_CHECKING:
    from labelloop.annotate.loop.scale import WorkingSet

__all__ = [
    "LabellingProject",
    "Pick",
    "item_kind",
    "label_set",
    "next_batch",
    "open_project",
    "payload_function",
    "pick_batch",
    "state_path",
]


def item_kind(config: ProjectConfig, pool: Pool) -> ItemKind:
    """Text for a text column; image for square pixel grids (``image_side``); else tabular."""
    chosen = config.labelling.kind
    if chosen != "auto":
        return chosen
    if pool.text_column is not None:
        return "text"
    if config.labelling.image_side or config.data.source == "bundled:digits":
        return "image"
    return "tabular"


def label_set(config: ProjectConfig, pool: Pool) -> list[str]:
    """Return the labels annotators choose from: the config's, else the gold classes."""
    if config.labelling.labels:
        return list(config.labelling.labels)
    if len(pool.classes) >= 2:
        return pool.classes
    raise ConfigError(
        "labelling.labels: give the label set (the pool has no gold labels to infer it from)"
    )


def payload_function(
    kind: ItemKind, pool: Pool, image_side: int | None = None
) -> Callable[[str], Mapping[str, Any]]:
    """Return ``item_id -> task data`` for the item kind (text, image data URI, table)."""
    frame = pool.frame
    if kind == "text":
        column = pool.text_column
        if column is None:
            raise ConfigError("labelling.kind: text needs a text column")
        return lambda item: {"text": str(frame.at[item, column])}
    columns = list(pool.feature_columns)
    if kind == "image":
        side = image_side or math.isqrt(len(columns))
        if side * side != len(columns):
            raise ConfigError(
                f"labelling.image_side: {len(columns)} pixel columns are not a {side}x{side} image"
            )
        return lambda item: {
            "image": image_data_uri(frame.loc[item, columns].to_numpy(dtype=float), side)
        }
    return lambda item: {"table": {c: _plain(frame.at[item, c]) for c in columns}}


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 6)  # JSON has no NaN
    if isinstance(value, np.integer):
        return int(value)
    return value


def state_path(workdir: Path, config: ProjectConfig) -> Path:
    """Return the project's state file in the work dir."""
    return workdir / "projects" / config.name / "state.sqlite"


@dataclass
class LabellingProject:
    """Everything a push or pull needs, opened once."""

    config: ProjectConfig
    pool: Pool
    gateway: LabelStudioGateway
    state: StateStore
    project_id: int
    kind: ItemKind
    labels: list[str]
    created: bool
    added_items: int = 0  # items that joined the pool since the last open (accepted at once)
    # (from_name, to_name) of an adopted project's Choices; None for labelloop's own.
    names: tuple[str, str] | None = None
    left_out: str = ""  # new tasks of an adopted project left out of the pool, and why
    # A partitioned pool: ``pool`` is its working set, the rest is streamed.
    working: WorkingSet | None = None

    @property
    def source(self) -> ParquetPool | None:
        """The whole partitioned pool, when ``pool`` is only its working set."""
        return self.working.source if self.working is not None else None

    def take_in(self, ids: list[str] | None = None) -> None:
        """Read items into a partitioned pool's working set; ``pool`` follows it.

        ``ids`` None reads what the project holds now (the next evaluation items, say).
        Nothing happens for an in-memory pool.
        """
        if self.working is None:
            return
        if ids is None:
            self.working.refresh()
        else:
            self.working.grow(ids)
        self.pool = self.working.pool

    def features(self, X: FeatureMatrix | None = None) -> FeatureMatrix:
        """Return the features of ``pool``: the working set's own for a partitioned pool.

        ``X`` (the in-memory pool's features) is returned as it is otherwise.
        """
        if self.working is not None:
            return self.working.X
        if X is None:
            raise ValueError("an in-memory pool's features are computed by the caller")
        return X

    @property
    def adopted(self) -> bool:
        """True when the project is an existing one whose tasks are labelled in place."""
        return self.config.label_studio is not None

    @property
    def workdir(self) -> Path:
        """The work dir the project lives in (``<workdir>/projects/<name>/state.sqlite``)."""
        return self.state.path.parents[2]

    def close(self) -> None:
        """Close the connection to Label Studio and the state store."""
        self.gateway.close()
        self.state.close()

    def __enter__(self) -> LabellingProject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_project(
    config: ProjectConfig, pool: Pool | None, workdir: Path, *, config_file: Path | None = None
) -> LabellingProject:
    """Connect, then find or create the Label Studio project; state is written only after.

    ``pool`` is None for a partitioned pool (a directory or glob of Parquet files): the
    project then opens its working set (:mod:`~labelloop.annotate.loop.scale`).

    The pool is checked against the payloads the project was built on first
    (:func:`~labelloop.annotate.loop.data_change.check_data`); ``config_file`` only
    names the config in that message.

    Raises
    ------
    DataChangedError
        Items changed or went away since the project last accepted its data file.
    LabelStudioError
        Wrong key, unreachable server, missing project, or labels that differ, or a
        project that takes several choices per item where the config takes one (or the
        reverse).
    """
    from labelloop.annotate.config.rules import check_routing

    working: WorkingSet | None = None
    if pool is None:  # a partitioned pool: checked before anything is touched
        from labelloop.annotate.loop.scale import check_streamable

        check_streamable(config)
    else:
        kind = item_kind(config, pool)
        labels = label_set(config, pool)
        if config.routing.enabled:
            check_routing(config, pool, labels)
    gateway = connect(workdir)  # fails before any state is touched
    path = state_path(workdir, config)
    state = StateStore(path)
    stored = state.get_meta("project_id")
    names = None
    left_out = ""
    added = None
    try:
        if pool is None:
            from labelloop.annotate.loop.scale import open_working_set

            working = open_working_set(config, state, config_file)
            pool = working.pool
            kind = item_kind(config, pool)
            labels = _partitioned_labels(config, working)
            if config.routing.enabled:
                check_routing(config, pool, labels)
        xml = labeling_config(kind, labels, multiple=config.labelling.multiple)
        if config.label_studio is not None:
            pool, project_id, left_out = _open_adopted(config, pool, gateway, state, labels)
            names = (config.label_studio.from_name, config.label_studio.to_name)
            created = False
        if working is None:
            added = check_data(state, config, pool, config_file)
        if config.label_studio is None:
            project_id, created = gateway.find_or_create_project(
                title=f"labelloop: {config.name}",
                label_config=xml,
                project_id=int(stored) if stored is not None else None,
                description=(
                    f"Active learning with labelloop ({config.strategy}, "
                    f"batch {config.batch_size})."
                ),
            )
    except BaseException:
        gateway.close()
        state.close()
        raise
    if stored is None:
        state.set_meta("project_id", str(project_id))
        state.set_meta("label_studio_url", gateway.url)
    state.set_meta(MULTIPLE_KEY, str(config.labelling.multiple).lower())  # read by the pull
    if names is not None:
        state.set_meta(FROM_NAME_KEY, names[0])
    n_added = 0 if added is None else len(added.added)
    if working is not None:
        n_added = working.added
    return LabellingProject(
        config,
        pool,
        gateway,
        state,
        project_id,
        kind,
        labels,
        created,
        n_added,
        names,
        left_out,
        working,
    )


def _partitioned_labels(config: ProjectConfig, working: WorkingSet) -> list[str]:
    """Return the config's labels, else the classes of the whole label column (one pass)."""
    if config.labelling.labels:
        return list(config.labelling.labels)
    if config.data.label_column is not None:
        from labelloop.datasets import column_values

        classes = column_values(config.data_path(), config.data.label_column)
        if len(classes) >= 2:
            return classes
    raise ConfigError(
        "labelling.labels: give the label set (the pool has no gold labels to infer it from)"
    )


def _open_adopted(
    config: ProjectConfig,
    pool: Pool,
    gateway: LabelStudioGateway,
    state: StateStore,
    labels: list[str],
) -> tuple[Pool, int, str]:
    """Check an adopted project and add its new tasks; return (pool, project id, left out)."""
    from labelloop.annotate.loop.adopted import check_adopted, sync_in_place

    adopted = config.label_studio
    assert adopted is not None
    stored = state.get_meta("project_id")
    if stored is not None and int(stored) != adopted.project_id:
        raise ConfigError(
            f"label_studio.project_id: {adopted.project_id}, but this project's state was "
            f"built on Label Studio project {stored}"
        )
    known_url = state.get_meta("label_studio_url")
    if known_url is not None and known_url != gateway.url:
        raise ConfigError(
            f"label_studio.project_id: this project's labels come from {known_url}, not "
            f"{gateway.url}; task ids on another server are other tasks"
        )
    gateway.whole_project = True
    check_adopted(config, gateway, labels)
    pool, rows = sync_in_place(config, pool, gateway, state)
    return pool, adopted.project_id, rows.summary()


def next_batch(
    project: LabellingProject,
    X: FeatureMatrix,
    n: int,
    *,
    model: Any = None,
    model_version: str | None = None,
    only_route: str | None = None,
) -> tuple[list[TaskDraft], str, str | None]:
    """Pick the next ``n`` items; :func:`pick_batch` without the model.

    Returns
    -------
    (drafts, strategy name, model version or None before a model exists)
    """
    pick = pick_batch(
        project, X, n, model=model, model_version=model_version, only_route=only_route
    )
    return pick.drafts, pick.strategy, pick.version


class Pick(NamedTuple):
    """A batch picked by :func:`pick_batch`, with the model that picked it."""

    drafts: list[TaskDraft]
    strategy: str
    version: str | None  # None before a model exists (cold start)
    model: Any


def pick_batch(
    project: LabellingProject,
    X: FeatureMatrix,
    n: int,
    *,
    model: Any = None,
    model_version: str | None = None,
    only_route: str | None = None,
) -> Pick:
    """Pick the next ``n`` items (never evaluation, queued or machine-labelled ones).

    With ``model`` given it is used as it is; otherwise a model is trained on the
    resolved labels so far (none before two classes are labelled: cold start). With
    ``only_route`` (``review`` or ``human``) only items on that route are picked.

    Returns
    -------
    Pick
        The drafts in rank order, the strategy, the model version (None before a model
        exists) and the model itself.
    """
    config, pool, state = project.config, project.pool, project.state
    evaluation = state.eval_items()
    in_pool = set(pool.ids.tolist())  # labels of items that joined after this pool loaded wait
    labelled = {
        i: r.label for i, r in state.resolutions().items() if r.label is not None and i in in_pool
    }
    resolved = {i: label for i, label in labelled.items() if i not in evaluation}
    tested = {i: str(label) for i, label in labelled.items() if i in evaluation}
    routes = state.route_of() if config.routing.enabled else {}
    machine = {i for i, r in routes.items() if r == "auto"}
    if only_route is not None:
        if project.working is not None:
            raise ConfigError(
                f"--route {only_route}: a partitioned pool keeps only machine labels' routes; "
                "its batches are picked from the whole pool (push without --route)"
            )
        if not routes:
            raise ConfigError(
                f"--route {only_route}: no routes yet (routing.enabled and a trained model "
                "are needed; run a cycle first)"
            )
        machine |= {i for i, r in routes.items() if r != only_route}
        machine |= set(pool.ids.tolist()) - set(routes)
    if project.adopted:  # only items whose task is still there can be picked
        machine |= set(pool.ids.tolist()) - set(state.in_place())
    queued = state.queued_item_ids() | evaluation | machine
    seed = config.seed + int(state.get_meta("batches_made") or 0)
    if project.working is not None:
        return _pick_partitioned(project, n, resolved, queued, seed, model, model_version, tested)
    learner = PoolLearner(
        build_estimator(config.model),
        X,
        pool.ids,
        strategy=config.strategy,
        cold_start=config.cold_start,
        excluded_ids=sorted(queued - set(resolved)),
        random_state=seed,
    )
    if resolved:
        learner.teach(list(resolved), list(resolved.values()), refit=model is None)
    if model is not None:
        learner.model_ = model
    learner.exploration = exploration_share(project, X, learner.model_, tested)
    n = min(n, learner.n_unlabelled)
    if n == 0:
        return Pick([], config.strategy, model_version, model)
    query = learner.query(n)
    return _drafts(
        project,
        X,
        learner.model_,
        (list(query.ids), list(query.scores), query.strategy),
        model_version or f"{config.name}-{len(resolved)}-labels",
        routes,
    )


def exploration_share(
    project: LabellingProject, X: FeatureMatrix, model: Any, tested: dict[str, str]
) -> float:
    """Return the share of the next batch drawn at random under ``exploration``.

    A number is the share. ``auto`` is :func:`~learners.auto_exploration` of ``model``
    on the evaluation items labelled so far (0 before a model or any of them exists).
    Strategies that use no model never split their batch, whatever this returns.

    Parameters
    ----------
    project : LabellingProject
    X : FeatureMatrix
        Features of the project's pool (its working set, for a partitioned pool).
    model : fitted classifier or None
        The model that picks the batch.
    tested : dict of str to str
        The labelled evaluation items of the pool: id to label.

    Returns
    -------
    float
        In ``[0, 1)``.
    """
    setting = project.config.exploration
    if setting != "auto":
        return float(setting)
    if model is None:
        return 0.0
    rows = project.pool.positions(list(tested))
    return auto_exploration(model, X[rows], list(tested.values()))


def _drafts(
    project: LabellingProject,
    X: FeatureMatrix,
    model: Any,
    picked: tuple[list[str], list[float], str],
    version: str,
    routes: Mapping[str, str],
) -> Pick:
    """Turn picks into drafts, with the model's guess and confidence when one exists."""
    ids, scores, strategy = picked
    predicted: list[str | None] = [None] * len(ids)
    confidence: list[float | None] = [None] * len(ids)
    if model is not None:
        proba = aligned_proba(model, X[project.pool.positions(ids)], project.labels)
        best = proba.argmax(axis=1)
        predicted = [project.labels[k] for k in best]
        confidence = [float(p) for p in proba.max(axis=1)]
    drafts = [
        TaskDraft(
            item,
            {},
            rank + 1,
            score,
            predicted[rank],
            confidence[rank],
            route=routes.get(item),
        )
        for rank, (item, score) in enumerate(zip(ids, scores, strict=True))
    ]
    return Pick(drafts, strategy, version if model is not None else None, model)


def _pick_partitioned(
    project: LabellingProject,
    n: int,
    resolved: dict[str, str],
    queued: set[str],
    seed: int,
    model: Any,
    model_version: str | None,
    tested: dict[str, str],
) -> Pick:
    """Pick from a whole partitioned pool by streaming it; the picks join the working set."""
    from sklearn.base import clone

    from labelloop.annotate.loop.scale import pick_streamed

    working, config = project.working, project.config
    assert working is not None
    X = working.X
    rows = project.pool.positions(list(resolved))
    if model is None and len(set(resolved.values())) >= 2:
        model = clone(build_estimator(config.model)).fit(X[rows], list(resolved.values()))
    exclude = queued | set(resolved)
    n = min(n, working.source.n_items - len(exclude))
    if n <= 0:
        return Pick([], config.strategy, model_version, model)
    picked = pick_streamed(
        working,
        model,
        n,
        exclude=exclude,
        X_labelled=X[rows] if len(rows) else None,
        seed=seed,
        share=exploration_share(project, X, model, tested),
    )
    project.take_in(picked[0])
    routes: dict[str, str] = {}
    if config.routing.enabled and model is not None:
        from labelloop.annotate.loop.scale import routes_of_picks

        routes = routes_of_picks(
            config, project.state, project.labels, working.pool, working.X, model, picked[0]
        )
    return _drafts(
        project,
        working.X,
        model,
        picked,
        model_version or f"{config.name}-{len(resolved)}-labels",
        routes,
    )

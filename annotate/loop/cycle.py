"""One cycle of the loop: pull -> train -> evaluate -> log -> score -> push.

Every phase can be killed and the cycle rerun: the pull is one transaction, a cycle
that crashed before its model was logged is redone (its partial MLflow run discarded),
one that crashed after is resumed from the logged model, and the push reconciles by
item id.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import confusion_matrix

from labelloop.annotate.config.schema import build_estimator
from labelloop.annotate.failpoints import failpoint
from labelloop.annotate.labelstudio.sync import PullReport, prepare_batch, pull_labels, push_pending
from labelloop.annotate.loop.features import default_cache_dir
from labelloop.annotate.loop.packaging import config_hash, project_package
from labelloop.annotate.loop.paying import paying_metrics
from labelloop.annotate.loop.project import LabellingProject, next_batch, payload_function
from labelloop.annotate.loop.queue import (
    QueueRefresh,
    refresh_in_pick_order,
    refresh_with_champion,
)
from labelloop.annotate.loop.routing import (
    apply_routing,
    audit_drafts,
    corrections,
    routing_metrics,
)
from labelloop.annotate.loop.stopping import ensure_eval_set, observe_stop_set
from labelloop.annotate.loop.tracking import CycleLog, CyclePlots, Tracker, labels_digest
from labelloop.annotate.state.records import TaskDraft
from labelloop.datasets import FeatureMatrix
from labelloop.learners import (
    aligned_proba,
    auto_share,
    evaluate,
    get_strategy,
    overconfidence,
    standard_metrics,
)

log = logging.getLogger("labelloop")

__all__ = ["PHASES", "CycleReport", "run_cycle"]

PHASES = ("pull", "train", "evaluate", "log", "score", "route", "push")


@dataclass
class CycleReport:
    """What one cycle did, for the terminal and for ``run``."""

    cycle: int
    n_labels: int
    n_eval_labelled: int
    metrics: dict[str, float]
    model_version: str | None
    champion: bool
    batch_id: str | None
    pushed: int
    pull: PullReport
    seconds: dict[str, float] = field(default_factory=dict)
    resumed: bool = False
    routing: dict[str, Any] | None = None  # this cycle's routing summary, when routing ran
    kept: bool = False  # no new labels since the last model: it was kept, not retrained
    queue: QueueRefresh | None = None  # the annotators' queue, re-scored by this cycle's model


def run_cycle(project: LabellingProject, X: FeatureMatrix, tracker: Tracker) -> CycleReport:
    """Run (or resume) one cycle and return what it did."""
    project.take_in()  # a partitioned pool: its working set, brought up to date
    X = project.features(X)
    config, state, pool = project.config, project.state, project.pool
    seconds: dict[str, float] = {}
    payload = payload_function(project.kind, pool, config.labelling.image_side)
    # A push that crashed earlier is finished first: its tasks may be in Label Studio.
    push_pending(project.gateway, state, project.project_id, kind=project.kind, payload_of=payload)
    evaluation = ensure_eval_set(project)
    cycle, status, record = state.open_cycle()

    start = time.perf_counter()
    failpoint("pull")
    pull = pull_labels(project.gateway, state, project.project_id, project.labels)
    seconds["pull"] = time.perf_counter() - start

    # Labels of items that joined the pool after it was loaded (an adopted project's new
    # tasks, synced by another command) wait for the next load.
    in_pool = set(pool.ids.tolist())
    resolved = {
        i: r.label for i, r in state.resolutions().items() if r.label is not None and i in in_pool
    }
    train = {i: lbl for i, lbl in resolved.items() if i not in evaluation}
    tested = {i: lbl for i, lbl in resolved.items() if i in evaluation}
    model: Any = None
    entry: CycleLog | None = None
    metrics: dict[str, float] = {}
    version: str | None = None
    champion = False
    resumed = status == "logged"
    run_id: str | None = record.get("run_id")
    labels_hash = labels_digest(train)
    # Training labels, evaluation labels and config: the same key means the same model.
    model_key = f"{labels_hash}:{labels_digest(tested)}:{config_hash(config)}"
    last = json.loads(state.get_meta("last_model") or "null")
    kept = False
    if resumed:
        version = record.get("model_version")
        metrics = record.get("metrics") or {}
        if run_id:
            model = tracker.load_classifier(run_id)
        elif version is not None and last is not None and last["version"] == version:
            model, kept = tracker.load_classifier(last["run_id"]), True
        if _features_changed(project) and len(set(train.values())) >= 2:
            # The pool changed since the model was logged (rows joined or were accepted,
            # Parquet files moved the moments): it was fitted on features the pool no
            # longer has. The same labels fit on today's features pick this batch; the
            # registered model keeps its own featurizer, so it scores raw rows as logged.
            rows = pool.positions(list(train))
            model = clone(build_estimator(config.model)).fit(X[rows], list(train.values()))
    elif last is not None and last["key"] == model_key:
        # No new labels (and the same config): the last model is kept; no run, no version.
        tracker.discard_unfinished(cycle)
        model, version, kept = tracker.load_classifier(last["run_id"]), last["version"], True
        state.cycle_logged(
            cycle,
            n_labels=len(train),
            metrics={},
            model_version=version,
            run_id=None,
            labels_hash=labels_hash,
        )
    else:
        tracker.discard_unfinished(cycle)
        start = time.perf_counter()
        failpoint("train")
        if len(set(train.values())) >= 2:
            rows = pool.positions(list(train))
            model = clone(build_estimator(config.model)).fit(X[rows], list(train.values()))
        seconds["train"] = time.perf_counter() - start

        start = time.perf_counter()
        failpoint("evaluate")
        confusion = None
        if model is not None:
            metrics, confusion = _evaluate(project, X, model, tested, cycle)
        seconds["evaluate"] = time.perf_counter() - start
        if model is not None:
            start = time.perf_counter()
            metrics.update(_against_random(project, X, tested, len(train), metrics, cycle))
            seconds["random_estimate"] = time.perf_counter() - start

        start = time.perf_counter()
        failpoint("log")
        logged: dict[str, str] = {}
        if model is not None:
            curve = [
                (int(c["n_labels"]), float(c["metrics"]["macro_f1"]))
                for c in state.cycles()
                if c["n_labels"] is not None and "macro_f1" in c["metrics"]
            ]
            if "macro_f1" in metrics:
                curve.append((len(train), metrics["macro_f1"]))
            params = _params(project)
            entry = CycleLog(
                cycle=cycle,
                params=params,
                metrics={**metrics, **{f"seconds_{k}": v for k, v in seconds.items()}},
                step=len(train),
                chosen=[],
                confusion=confusion,
                labels=project.labels,
                curve=curve,
                labels_hash=labels_hash,
                package=project_package(
                    project, model, list(train), default_cache_dir(project.workdir)
                ),
                train_labels=train,
                eval_labels=tested,
                version_tags={
                    "n_labels": str(len(train)),
                    "strategy": config.strategy,
                    "label_studio_project": str(project.project_id),
                    "config_hash": str(params["config_hash"]),
                    "labels_hash": labels_hash,
                },
                source=f"{project.gateway.url}/projects/{project.project_id}",
            )
            run_id, registered, champion = tracker.log_cycle(entry, metric=config.evaluation.metric)
            version = f"{tracker.model_name}:v{registered}"
            failpoint("logged")
            logged = {
                # Kept for a rerun that resumes after the push: the run's plots come last.
                "cycle_plots": entry.plots().to_json(),
                "last_model": json.dumps({"key": model_key, "version": version, "run_id": run_id}),
            }
            features = _features_key(project)
            if features is not None:
                logged[_LOGGED_FEATURES] = features
        state.cycle_logged(
            cycle,
            n_labels=len(train),
            metrics=metrics,
            model_version=version,
            run_id=run_id,
            labels_hash=labels_hash,
            meta=logged,
        )
        seconds["log"] = time.perf_counter() - start

    start = time.perf_counter()
    batch_id = record.get("batch_id")
    drafts: list[TaskDraft] = []
    routing: dict[str, Any] | None = None
    if batch_id is None:  # a resumed cycle whose batch was chosen already does not choose again
        failpoint("score")
        if config.routing.enabled and model is not None:
            routing = apply_routing(project, X, model, version, tested, cycle)
            failpoint("route")
        drafts, strategy, version = next_batch(
            project, X, config.batch_size, model=model, model_version=version
        )
        X = project.features(X)  # a partitioned pool's picks joined its working set
        drafts = drafts + _evaluation_drafts(project, evaluation, len(drafts), set(resolved))
        if routing is not None:
            drafts = drafts + audit_drafts(project, cycle, drafts)
        project.take_in([d.item_id for d in drafts])  # a partitioned pool's audits, say
        X = project.features(X)
        if drafts:
            batch_id = prepare_batch(state, drafts, strategy=strategy, model_version=version)
            state.cycle_batch(cycle, batch_id)
    seconds["score"] = time.perf_counter() - start

    start = time.perf_counter()
    failpoint("push")
    payload = payload_function(project.kind, project.pool, config.labelling.image_side)
    push_pending(project.gateway, state, project.project_id, kind=project.kind, payload_of=payload)
    # Counted from the state: a rerun after a kill past the push sends nothing new.
    batch_rows = state.batch_items(batch_id) if batch_id is not None else []
    sent = state.task_map()
    pushed = sum(1 for row in batch_rows if row["item_id"] in sent)
    queue: QueueRefresh | None = None
    if model is not None:
        # Every open task scored by the champion: annotators get the least sure first.
        queue = refresh_with_champion(project, X, tracker, (version, model))
    if queue is None:  # an adopted project before its first champion: in pick order
        queue = refresh_in_pick_order(project)
    failpoint("pushed")
    seconds["push"] = time.perf_counter() - start
    if run_id:
        chosen = [{**row, "route": row["route"] or ""} for row in batch_rows]
        extra: dict[str, float] = {}
        if config.routing.enabled:
            fixes = corrections(state.prediction_outcomes())
            extra = routing_metrics(state.routing_summary(), fixes)
            _log_corrections_per_version(project, tracker, fixes)
        plots = entry.plots() if entry is not None else _kept_plots(project, cycle)
        after = tracker.finish_cycle(run_id, plots, chosen, seconds, len(train), extra)
        seconds["render_after_push"] = after["render"]
        seconds["mlflow_after_push"] = after["mlflow"]
    state.cycle_pushed(cycle)
    return CycleReport(
        cycle=cycle,
        n_labels=len(train),
        n_eval_labelled=len(tested),
        metrics=metrics,
        model_version=version,
        champion=champion,
        batch_id=batch_id,
        pushed=pushed,
        pull=pull,
        seconds=seconds,
        resumed=resumed,
        routing=routing,
        kept=kept,
        queue=queue,
    )


_LOGGED_FEATURES = "logged_features"  # what the last logged model's features were fitted on


def _features_key(project: LabellingProject) -> str | None:
    """Say what the project's features were fitted on; None when nothing in the pool.

    An in-memory pool's featurizer (scaler, vocabulary) is fitted on every row, so the
    key is its size and data generation; a partitioned pool's numeric features are
    standardized by the files' moments, so the key is their signature; hashed texts and
    embeddings of a partitioned pool do not depend on the pool.
    """
    working = project.working
    if working is None:
        generation = project.state.get_meta("data_generation") or "0"
        return f"{len(project.pool)} items, data generation {generation}"
    return working.signature if working.source.mean is not None else None


def _features_changed(project: LabellingProject) -> bool:
    """Whether the pool's features changed since the last model was logged."""
    logged = project.state.get_meta(_LOGGED_FEATURES)
    now = _features_key(project)
    return logged is not None and now is not None and logged != now


def _kept_plots(project: LabellingProject, cycle: int) -> CyclePlots | None:
    """Return the plots data a cycle kept when it logged its model (for a resumed cycle)."""
    kept = project.state.get_meta("cycle_plots")
    plots = None if kept is None else CyclePlots.from_json(kept)
    return plots if plots is not None and plots.cycle == cycle else None


def _evaluate(
    project: LabellingProject, X: FeatureMatrix, model: Any, tested: dict[str, str], cycle: int
) -> tuple[dict[str, float], Any]:
    """Return the cycle's metrics and the confusion matrix on the labelled evaluation items."""
    pool = project.pool
    metrics: dict[str, float] = {}
    confusion = None
    if tested:
        rows = pool.positions(list(tested))
        truth = list(tested.values())
        result = evaluate(model, X[rows], truth, project.labels)
        metrics.update(accuracy=result.accuracy, macro_f1=result.macro_f1, log_loss=result.log_loss)
        metrics["n_eval_labelled"] = float(len(tested))
        # How far the model's confidence exceeds its accuracy, and the share of the batch
        # it picks that is drawn at random (`exploration: auto` follows the first).
        metrics["overconfidence"] = overconfidence(model, X[rows], truth)
        metrics["exploration_share"] = _share(project.config, metrics["overconfidence"])
        proba = aligned_proba(model, X[rows], project.labels)
        # The same figures under the names mlflow.models.evaluate gives them.
        metrics.update(standard_metrics(truth, proba, project.labels))
        predicted = np.asarray(project.labels, dtype=object)[proba.argmax(axis=1)]
        confusion = confusion_matrix(truth, predicted, labels=project.labels)
    metrics.update(observe_stop_set(project, X, model, cycle=cycle))
    return metrics, confusion


def _share(config: Any, overclaim: float) -> float:
    """Return the share drawn at random from a batch picked by a model that overclaims so."""
    if not get_strategy(config.strategy).needs_model:
        return 0.0
    return auto_share(overclaim) if config.exploration == "auto" else float(config.exploration)


def _against_random(
    project: LabellingProject,
    X: FeatureMatrix,
    tested: dict[str, str],
    n_labels: int,
    metrics: dict[str, float],
    cycle: int,
) -> dict[str, float]:
    """Random sampling's estimated score at this many labels, and the labels saved."""
    metric = project.config.evaluation.metric
    if metric not in metrics:
        return {}
    rows = project.pool.positions(list(tested))
    try:
        return paying_metrics(
            build_estimator(project.config.model),
            X[rows],
            list(tested.values()),
            project.labels,
            n_labels,
            metrics[metric],
            metric=metric,
            seed=project.config.seed + cycle,
        )
    except Exception as exc:  # an estimate never stops a cycle
        # A model that cannot fit a few random items (too few per class for its own
        # internal cross-validation, say): the cycle goes on without the estimate.
        log.warning("random sampling's estimate skipped this cycle: %s", exc)
        return {}


def _evaluation_drafts(
    project: LabellingProject, evaluation: set[str], n_picked: int, labelled: set[str]
) -> list[TaskDraft]:
    per_batch = project.config.evaluation.per_batch or project.config.batch_size
    state = project.state
    queued = state.queued_item_ids()
    # An adopted project's evaluation items are its tasks: only those still there.
    there = set(state.in_place()) if project.adopted else None
    waiting = [
        i
        for i in state.eval_order()
        if i in evaluation
        and i not in queued
        and i not in labelled
        and (there is None or i in there)
    ][:per_batch]
    return [
        TaskDraft(item, {}, n_picked + k + 1, float("nan"), route="evaluation")
        for k, item in enumerate(waiting)
    ]


def _log_corrections_per_version(
    project: LabellingProject, tracker: Tracker, fixes: dict[str, dict[str, tuple[int, int]]]
) -> None:
    """Give each model version's own run the correction rate of the guesses it made."""
    runs = {c["model_version"]: c["run_id"] for c in project.state.cycles() if c["run_id"]}
    for version, (reviewed, fixed) in fixes["by_version"].items():
        run_id = runs.get(version)
        if run_id:
            tracker.log_metrics(
                run_id,
                {"corrections.version_rate": fixed / reviewed, "corrections.version_n": reviewed},
                step=reviewed,
            )


def _params(project: LabellingProject) -> dict[str, Any]:
    config = project.config
    digest = config_hash(config)
    return {
        "strategy": config.strategy,
        "exploration": config.exploration,
        "batch_size": config.batch_size,
        "estimator": config.model.estimator,
        **{f"estimator.{k}": v for k, v in config.model.params.items()},
        "seed": config.seed,
        "featurizer": config.featurizer.kind,
        "config_hash": digest,
        "label_studio_project": project.project_id,
        "routing.enabled": config.routing.enabled,
        **(
            {
                "routing.target_precision": config.routing.target_precision,
                "routing.confidence": config.routing.confidence,
                "routing.audit_rate": config.routing.audit.rate,
                "routing.always_human_classes": ",".join(config.routing.always_human_classes),
                "routing.always_human_rules": len(config.routing.always_human),
            }
            if config.routing.enabled
            else {}
        ),
    }

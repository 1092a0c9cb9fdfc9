"""Human in the loop for a live project: route the pool, audit machine labels, count corrections.

The decisions themselves are pure functions in :mod:`labelloop.learners._routing`; this module
feeds them the project's state and writes what they decide back to it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from labelloop.annotate.config.rules import route_by_config
from labelloop.annotate.loop.project import LabellingProject
from labelloop.annotate.state.records import TaskDraft
from labelloop.datasets import FeatureMatrix
from labelloop.learners import (
    AuditVerdict,
    aligned_proba,
    audit_quota,
    audit_verdict,
    evaluation_thresholds,
    map_chunks,
    min_evidence,
)

__all__ = [
    "apply_routing",
    "audit_drafts",
    "audit_outcomes",
    "audits_by_class",
    "class_rows",
    "corrections",
    "metric_name",
    "routing_metrics",
]


Outcomes = Sequence[dict[str, Any]]  # rows of StateStore.prediction_outcomes()
# (item id, route, predicted, confidence, eligible, reason): a row of the routes table
RouteRow = tuple[str, str, str | None, float | None, bool, str]


def audit_outcomes(outcomes: Outcomes) -> list[bool]:
    """Return, oldest first, whether each labelled audit confirmed its machine label."""
    return [
        row["final"] == row["predicted"]
        for row in outcomes
        if row["route"] == "audit" and row["final"] is not None
    ]


def _tally(outcomes: Outcomes, route: str, key: str) -> dict[str, tuple[int, int]]:
    """Count labelled outcomes of ``route`` by ``key``: (labelled, final == guess)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in outcomes:
        if row["route"] == route and row["final"] is not None:
            out[str(row[key])][0] += 1
            out[str(row[key])][1] += int(row["final"] == row["predicted"])
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def audits_by_class(outcomes: Outcomes) -> dict[str, tuple[int, int]]:
    """Return machine label -> (audited, confirmed) over every labelled audit."""
    return _tally(outcomes, "audit", "predicted")


def _verdict(project: LabellingProject) -> AuditVerdict:
    routing = project.config.routing
    return audit_verdict(
        audit_outcomes(project.state.prediction_outcomes()),
        target=routing.target_precision,
        confidence=routing.confidence,
        min_audits=routing.audit.min_audits,
        window=routing.audit.window,
    )


def apply_routing(
    project: LabellingProject,
    X: FeatureMatrix,
    model: Any,
    model_version: str | None,
    tested: dict[str, str],
    cycle: int,
) -> dict[str, Any]:
    """Choose the thresholds, route every open item, and store the routes and a summary.

    Open items are those with no human label, outside the evaluation set, and not
    already waiting in Label Studio. Returns the summary stored with the routes.
    """
    config, state, pool, labels = project.config, project.state, project.pool, project.labels
    routing = config.routing
    ids = list(tested)
    proba = (
        aligned_proba(model, X[pool.positions(ids)], labels) if ids else np.zeros((0, len(labels)))
    )
    thresholds = evaluation_thresholds(
        proba,
        list(tested.values()),
        labels,
        target=routing.target_precision,
        confidence=routing.confidence,
    )
    verdict = _verdict(project)
    resolved = {i for i, r in state.resolutions().items() if r.label is not None}
    closed = resolved | state.eval_items() | state.queued_item_ids()
    if project.adopted:  # an adopted project's items whose task was deleted stay out
        closed |= set(pool.ids.tolist()) - set(state.in_place())
    rows: list[RouteRow] = []
    counts = {"auto": 0, "review": 0, "human": 0}
    n_pool = len(pool)
    if project.working is not None:
        # A partitioned pool: routed row group by row group; only machine labels (and
        # the items eligible for one, from which audits are drawn while automatic
        # labelling is suspended) are stored. Other routes are computed when asked.
        rows, counts = _route_partitioned(project, model, thresholds, verdict, closed)
        n_pool = project.working.source.n_items
    elif (open_mask := ~np.isin(pool.ids, list(closed))).any():
        open_ids = pool.ids[open_mask]
        routed = route_by_config(
            routing,
            map_chunks(
                X[pool.positions(open_ids.tolist())],
                lambda block: aligned_proba(model, block, labels),
            ),
            labels,
            thresholds,
            pool.frame[open_mask],
            auto_allowed=not verdict.suspended,
        )
        rows = _route_rows(open_ids, routed)
        counts = routed.counts()
    summary = {
        "cycle": cycle,
        "model_version": model_version,
        "target_precision": routing.target_precision,
        "confidence": routing.confidence,
        "min_evidence": min_evidence(routing.target_precision, routing.confidence),
        "n_eval_labelled": len(tested),
        "thresholds": {label: asdict(t) for label, t in thresholds.items()},
        "counts": counts,
        "n_pool": n_pool,
        "audit": asdict(verdict),
    }
    state.replace_routes(rows, model_version=model_version, cycle=cycle, summary=summary)
    return summary


def _route_partitioned(
    project: LabellingProject,
    model: Any,
    thresholds: dict[str, Any],
    verdict: AuditVerdict,
    closed: set[str],
) -> tuple[list[RouteRow], dict[str, int]]:
    """Route a partitioned pool's open items one row group at a time.

    Returns the rows to store (machine labels and items eligible for one) and the
    counts of every route.
    """
    from labelloop.annotate.loop.scale import rule_columns

    working = project.working
    assert working is not None
    routing, labels, source = project.config.routing, project.labels, working.source
    columns = rule_columns(project.config)
    shut = np.asarray(sorted(closed), dtype=object)
    rows: list[RouteRow] = []
    counts: Counter[str] = Counter({"auto": 0, "review": 0, "human": 0})
    for partition in source.partitions:
        ids, X = source.load(partition)
        open_mask = ~np.isin(ids, shut) if shut.size else np.ones(len(ids), dtype=bool)
        if not open_mask.any():
            continue
        frame = source.read(partition, columns).to_pandas() if columns else None
        rules_read = frame[open_mask] if frame is not None else pd.DataFrame(index=ids[open_mask])
        routed = route_by_config(
            routing,
            aligned_proba(model, X[np.flatnonzero(open_mask)], labels),
            labels,
            thresholds,
            rules_read,
            auto_allowed=not verdict.suspended,
        )
        counts.update(routed.counts())
        stored = (routed.routes == "auto") | routed.eligible
        rows += _route_rows(ids[open_mask], routed, stored)
    return rows, dict(counts)


def _route_rows(ids: Any, routed: Any, keep: Any = None) -> list[RouteRow]:
    """Rows for :meth:`StateStore.replace_routes` of routed items (those in ``keep``)."""
    picked = np.flatnonzero(keep) if keep is not None else np.arange(len(ids))
    return [
        (
            str(ids[k]),
            str(routed.routes[k]),
            str(routed.predicted[k]),
            float(routed.confidence[k]),
            bool(routed.eligible[k]),
            str(routed.reasons[k]),
        )
        for k in picked
    ]


def audit_drafts(
    project: LabellingProject, cycle: int, taken: Sequence[TaskDraft]
) -> list[TaskDraft]:
    """Pick this cycle's audit tasks among the machine-labelled items.

    Audits are kept at ``routing.audit.rate`` of all machine labels; while automatic
    labelling is suspended, ``routing.audit.per_cycle_when_suspended`` items that would
    otherwise be machine-labelled are audited each cycle, so recovery can be seen.
    Items already in this cycle's batch (``taken``) are not picked again.
    """
    config, state = project.config, project.state
    audit = config.routing.audit
    queued = state.queued_item_ids()
    summary = state.routing_summary() or {}
    suspended = bool(summary.get("audit", {}).get("suspended"))
    sent = state.items_sent_on("audit")
    routes = state.routes("eligible" if suspended else "auto")
    pool_ids = list(routes)
    wanted = audit_quota(
        len(pool_ids),
        sent,
        rate=audit.rate,
        suspended=suspended,
        when_suspended=audit.per_cycle_when_suspended,
    )
    busy = queued | {d.item_id for d in taken}
    there = set(state.in_place()) if project.adopted else None
    candidates = sorted(i for i in pool_ids if i not in busy and (there is None or i in there))
    if wanted <= 0 or not candidates:
        return []
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 4, cycle]))
    chosen = rng.permutation(len(candidates))[: min(wanted, len(candidates))]
    return [
        TaskDraft(
            candidates[k],
            {},
            len(taken) + n + 1,
            None,
            routes[candidates[k]]["predicted"],
            routes[candidates[k]]["confidence"],
            route="audit",
        )
        for n, k in enumerate(chosen.tolist())
    ]


def corrections(outcomes: Outcomes) -> dict[str, dict[str, tuple[int, int]]]:
    """Count the pre-annotations people corrected: ``by_class`` and ``by_version``.

    Only ``review`` items count (their guess was shown); each entry is
    (reviewed, corrected), keyed by the model's label or by the model version.
    """
    fixes = {}
    for name, key in (("by_class", "predicted"), ("by_version", "model_version")):
        fixes[name] = {k: (n, n - kept) for k, (n, kept) in _tally(outcomes, "review", key).items()}
    return fixes


def class_rows(project: LabellingProject) -> list[dict[str, Any]]:
    """Return, per class, what status and report show (empty before the first routing).

    Each row: the threshold and its evidence, machine labels now, audits (audited,
    confirmed) and review corrections (reviewed, corrected).
    """
    summary = project.state.routing_summary()
    if summary is None:
        return []
    outcomes = project.state.prediction_outcomes()
    audited = audits_by_class(outcomes)
    fixes = corrections(outcomes)["by_class"]
    auto = Counter(r["predicted"] for r in project.state.routes("auto").values())
    rows = []
    for label in project.labels:
        found = summary["thresholds"].get(label, {})
        rows.append(
            {
                "label": label,
                "people_only": label in project.config.routing.always_human_classes,
                "threshold": found.get("threshold"),
                "evidence": f"{found.get('n_correct', 0)}/{found.get('n_evidence', 0)}",
                "lower_bound": float(found.get("lower_bound", 0.0)),
                "auto": auto.get(label, 0),
                "audits": audited.get(label, (0, 0)),
                "corrections": fixes.get(label, (0, 0)),
            }
        )
    return rows


def metric_name(text: str) -> str:
    """Make a label safe inside an MLflow metric name."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", text)


def routing_metrics(
    summary: dict[str, Any] | None, fixes: dict[str, dict[str, tuple[int, int]]]
) -> dict[str, float]:
    """Flatten a routing summary and the correction counts into MLflow metrics."""
    metrics: dict[str, float] = {}
    if summary is not None:
        counts = summary["counts"]
        for route, n in counts.items():
            metrics[f"routing.{route}"] = float(n)
        metrics["routing.auto_share"] = counts["auto"] / max(1, summary["n_pool"])
        metrics["routing.suspended"] = float(summary["audit"]["suspended"])
        metrics["audit.n"] = float(summary["audit"]["n_audits"])
        if summary["audit"]["precision"] is not None:
            metrics["audit.precision"] = float(summary["audit"]["precision"])
        for label, found in summary["thresholds"].items():
            if found["threshold"] is not None:
                metrics[f"routing.threshold.{metric_name(label)}"] = float(found["threshold"])
    reviewed = sum(n for n, _ in fixes["by_class"].values())
    if reviewed:
        metrics["corrections.n_reviewed"] = float(reviewed)
        metrics["corrections.rate"] = sum(c for _, c in fixes["by_class"].values()) / reviewed
        for label, (n, fixed) in fixes["by_class"].items():
            metrics[f"corrections.rate.{metric_name(label)}"] = fixed / n
    return metrics

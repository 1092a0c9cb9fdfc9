"""`labelloop status`: the state of a project as a few tables."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.table import Table

from labelloop.annotate.loop.project import LabellingProject
from labelloop.annotate.loop.queue import queue_order
from labelloop.annotate.loop.stopping import stop_verdict

__all__ = ["status_tables"]


def status_tables(project: LabellingProject) -> list[Table]:
    """Return the overview, class balance and recent cycles tables."""
    state = project.state
    resolved = state.resolutions()
    evaluation = state.eval_items()
    labelled = {i: r for i, r in resolved.items() if r.label is not None}
    ties = sum(r.tie for r in resolved.values())
    rows = state.annotation_rows()
    statuses = Counter(r["status"] for r in rows)
    agreement = [r.agreement for r in resolved.values() if r.n_annotations > 1]
    stop, reason = stop_verdict(project)
    overview = Table(
        title=f"{project.config.name}: Label Studio project {project.project_id}",
        title_justify="left",
        show_header=False,
    )
    overview.add_column("what")
    overview.add_column("value", justify="right")
    train = sum(1 for i in labelled if i not in evaluation)
    items: list[tuple[str, Any]] = [
        ("labelled items (training)", f"{train} / budget {project.config.budget}"),
        (
            "labelled items (evaluation)",
            f"{sum(1 for i in labelled if i in evaluation)} / {len(evaluation)}",
        ),
        (
            "annotations: active / skipped / quarantined / deleted",
            " / ".join(str(statuses[k]) for k in ("active", "cancelled", "quarantined", "deleted")),
        ),
        ("ties held back", ties),
        (
            "agreement (items with 2+ annotations)",
            f"{sum(agreement) / len(agreement):.2f} over {len(agreement)}" if agreement else "—",
        ),
        ("tasks waiting for a label", state.pending_tasks()),
        ("order annotators get", queue_order(project)),
        ("webhook events not yet pulled", state.pending_events()),
        ("stopping rule", ("STOP: " if stop else "continue: ") + reason),
        ("is active learning paying", _paying(project)),
        ("drawn at random (exploration)", _exploration(project)),
    ]
    if project.config.routing.enabled:
        summary = state.routing_summary()
        if summary is None:
            machine = "not yet: no model"
        elif summary["audit"]["suspended"]:
            machine = f"SUSPENDED: {summary['audit']['reason']}"
        else:
            machine = (
                f"on: {summary['counts']['auto']} machine label(s); {summary['audit']['reason']}"
            )
        items.append(("automatic labelling", machine))
    for key, value in items:
        overview.add_row(key, str(value))
    balance = Table(title="class balance (training labels)", title_justify="left")
    balance.add_column("label")
    balance.add_column("items", justify="right")
    counts = Counter(r.label for i, r in labelled.items() if i not in evaluation)
    for label in project.labels:
        balance.add_row(label, str(counts.get(label, 0)))
    cycles = Table(title="recent cycles", title_justify="left")
    metric = project.config.evaluation.metric
    for column in (
        "cycle",
        "labels",
        "accuracy",
        "macro-F1",
        "random (est.)",
        "saved",
        "kappa",
        "model",
        "status",
    ):
        cycles.add_column(column, justify="left" if column in ("model", "status") else "right")
    for cycle in state.cycles()[-8:]:
        m = cycle["metrics"]
        cycles.add_row(
            str(cycle["cycle"]),
            str(cycle["n_labels"] if cycle["n_labels"] is not None else "—"),
            f"{m['accuracy']:.3f}" if "accuracy" in m else "—",
            f"{m['macro_f1']:.3f}" if "macro_f1" in m else "—",
            f"{m[f'random_{metric}']:.3f}" if f"random_{metric}" in m else "—",
            f"{m['labels_saved']:+.0f}" if "labels_saved" in m else "—",
            f"{m['kappa_previous']:.3f}" if "kappa_previous" in m else "—",
            str(cycle["model_version"] or "—"),
            str(cycle["status"]),
        )
    tables = [overview, balance, cycles]
    if project.config.routing.enabled:
        tables.append(routing_table(project))
    return tables


def _exploration(project: LabellingProject) -> str:
    """Say the share of each batch drawn at random, and why (for ``exploration: auto``)."""
    from labelloop.learners import auto_share, get_strategy

    config = project.config
    setting = config.exploration
    if not get_strategy(config.strategy).needs_model:
        return f"none: {config.strategy} uses no model"
    if setting == 0:
        return "none: the strategy picks every item (exploration: 0)"
    if setting != "auto":
        return f"{float(setting):.0%} of each batch once a model exists (exploration: {setting:g})"
    measured = [c for c in project.state.cycles() if "overconfidence" in c["metrics"]]
    if not measured:
        return "none yet: no model measured on evaluation labels (exploration: auto)"
    # The newest model's overconfidence sets the share of the batch it picks.
    over = float(measured[-1]["metrics"]["overconfidence"])
    share = auto_share(over)
    if share == 0:
        return "none in the last batch: the model is no surer than it is right (auto)"
    return (
        f"{share:.0%} of the last batch: the model's confidence exceeds its accuracy by "
        f"{over:.2f} on the evaluation set (exploration: auto, twice that, at most half)"
    )


def _paying(project: LabellingProject) -> str:
    """Say in one line how the last scored cycle fares against random sampling."""
    from labelloop.annotate.loop.paying import paying_verdict

    metric = project.config.evaluation.metric
    scored = [c for c in project.state.cycles() if metric in c["metrics"]]
    if not scored:
        return paying_verdict({}, 0, metric)
    last = scored[-1]
    return paying_verdict(last["metrics"], int(last["n_labels"] or 0), metric)


def routing_table(project: LabellingProject) -> Table:
    """Return the routing state: per-class thresholds, routes, audits, corrections."""
    from labelloop.annotate.loop.routing import class_rows

    summary = project.state.routing_summary()
    config = project.config.routing
    title = (
        f"routing: machine labels at precision >= {config.target_precision} "
        f"({config.confidence:.0%} one-sided lower bound)"
    )
    table = Table(title=title, title_justify="left")
    for column in (
        "class",
        "threshold",
        "evidence",
        "lower bound",
        "auto",
        "audits confirmed",
        "corrected",
    ):
        table.add_column(column, justify="left" if column == "class" else "right")
    if summary is None:
        table.caption = "no routing yet: it starts once a model is trained"
        return table
    for row in class_rows(project):
        n_audits, confirmed = row["audits"]
        reviewed, fixed = row["corrections"]
        threshold = row["threshold"]
        table.add_row(
            row["label"],
            "people only"
            if row["people_only"]
            else (f"{threshold:.3f}" if threshold is not None else "none"),
            row["evidence"],
            f"{row['lower_bound']:.3f}",
            str(row["auto"]),
            f"{confirmed}/{n_audits}" if n_audits else "—",
            f"{fixed}/{reviewed}" if reviewed else "—",
        )
    counts = summary["counts"]
    audit = summary["audit"]
    state = "SUSPENDED: " if audit["suspended"] else ""
    table.caption = (
        f"cycle {summary['cycle']}, {summary['model_version']}: auto {counts['auto']}, "
        f"review {counts['review']}, human {counts['human']} of {summary['n_pool']} items; "
        f"audits: {state}{audit['reason']}; "
        f"a class needs {summary['min_evidence']} correct evaluation labels to start"
    )
    return table

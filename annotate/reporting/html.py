"""`labelloop report`: one self-contained HTML page about a project or a simulation."""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from labelloop.annotate.loop.project import LabellingProject
from labelloop.annotate.loop.stopping import stop_verdict
from labelloop.annotate.state.records import drawn_at_random

__all__ = ["project_report", "simulation_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3}td.n{text-align:right}.verdict{padding:.6em;background:#eef5ff}
img{max-width:100%}details{margin:.3em 0}
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return (
        f'<img alt="" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = ""
    for row in rows:
        cells = "".join(
            f'<td class="n">{v:.3f}</td>'
            if isinstance(v, float)
            else f"<td>{html.escape(str(v))}</td>"
            for v in row
        )
        body += f"<tr>{cells}</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, sections: list[str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Generated {stamp} by labelloop.</p>{''.join(sections)}</body></html>"
    )


def project_report(project: LabellingProject, versions: list[dict[str, Any]]) -> str:
    """Build the report of a live project from its state store and registered versions."""
    state = project.state
    cycles = [c for c in state.cycles() if c["n_labels"] is not None]
    sections = []
    stop, reason = stop_verdict(project)
    sections.append(
        f"<div class='verdict'><b>Stopping rule:</b> {'STOP' if stop else 'continue'}: "
        f"{html.escape(reason)}</div>"
    )
    # Learning curve.
    fig, axis = plt.subplots(figsize=(9, 4), constrained_layout=True)
    for metric, style in (("accuracy", "o-"), ("macro_f1", "s-")):
        points = [(c["n_labels"], c["metrics"][metric]) for c in cycles if metric in c["metrics"]]
        if points:
            x, y = zip(*points, strict=True)
            axis.plot(x, y, style, label=metric.replace("_", "-"))
    # Random sampling's estimated curve at the same labels (from the evaluation set).
    shown = project.config.evaluation.metric
    estimated = [
        (
            c["n_labels"],
            c["metrics"][f"random_{shown}"],
            c["metrics"][f"random_{shown}_low"],
            c["metrics"][f"random_{shown}_high"],
        )
        for c in cycles
        if f"random_{shown}" in c["metrics"]
    ]
    if estimated:
        x, mean, low, high = zip(*estimated, strict=True)
        axis.plot(x, mean, "--", color="grey", label=f"random sampling (est.), {shown}")
        axis.fill_between(x, low, high, color="grey", alpha=0.2)
    axis.set_xlabel("training labels")
    axis.set_ylabel("on the evaluation set")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    axis.set_title("Learning curve")
    from labelloop.annotate.loop.paying import paying_verdict

    scored = [c for c in cycles if shown in c["metrics"]]
    verdict = (
        paying_verdict(scored[-1]["metrics"], int(scored[-1]["n_labels"]), shown)
        if scored
        else paying_verdict({}, 0, shown)
    )
    sections.append(
        f"<h2>Learning curve</h2><div class='verdict'><b>Is active learning paying:</b> "
        f"{html.escape(verdict)}</div>{_png(fig)}"
    )
    # Label distribution over time (training labels by cycle).
    rows = state.annotation_rows()
    evaluation = state.eval_items()
    started = [(c["cycle"], c["started_at"]) for c in state.cycles()]
    labels = project.labels
    counts = []
    for _, when in started:
        seen: dict[str, str] = {}
        for row in rows:
            if (
                row["status"] == "active"
                and row["created_at"] <= when.replace("+00:00", "Z")
                and row["item_id"] not in evaluation
            ):
                seen[row["item_id"]] = row["labels"][0] if row["labels"] else ""
        tally = Counter(seen.values())
        counts.append([tally.get(label, 0) for label in labels])
    if counts:
        fig, axis = plt.subplots(figsize=(9, 4), constrained_layout=True)
        cycle_numbers = [c for c, _ in started]
        axis.stackplot(cycle_numbers, list(zip(*counts, strict=True)), labels=labels, alpha=0.85)
        axis.set_xlabel("cycle")
        axis.set_ylabel("labelled training items")
        axis.legend(loc="upper left", fontsize=8)
        axis.set_title("Label distribution over time")
        sections.append(f"<h2>Label distribution over time</h2>{_png(fig)}")
    # Agreement.
    resolved = state.resolutions()
    per_person: dict[str, list[int]] = {}
    for row in rows:
        if row["status"] not in ("active", "cancelled"):
            continue
        entry = per_person.setdefault(row["annotator"], [0, 0, 0, 0])
        entry[0] += 1
        if row["status"] == "cancelled":
            entry[1] += 1
            continue
        outcome = resolved.get(row["item_id"])
        if outcome is not None and outcome.n_annotations > 1 and outcome.label is not None:
            entry[2] += 1
            entry[3] += int((row["labels"] or [""])[0] == outcome.label)
    agreement_rows = [
        [who, n, skips, shared, (agree / shared) if shared else "—"]
        for who, (n, skips, shared, agree) in sorted(per_person.items())
    ]
    ties = sum(r.tie for r in resolved.values())
    sections.append(
        "<h2>Annotators and agreement</h2>"
        + _table(
            ["annotator", "annotations", "skips", "on shared items", "agree with majority"],
            agreement_rows,
        )
        + f"<p>{ties} item(s) tied and held back.</p>"
    )
    # Stopping history.
    kappas = [
        (c["cycle"], c["metrics"]["kappa_previous"])
        for c in cycles
        if "kappa_previous" in c["metrics"]
    ]
    if kappas:
        fig, axis = plt.subplots(figsize=(9, 3.5), constrained_layout=True)
        x, y = zip(*kappas, strict=True)
        axis.plot(x, y, "o-", label="kappa vs previous model")
        axis.axhline(project.config.stopping.threshold, color="grey", ls="--", label="threshold")
        axis.set_xlabel("cycle")
        axis.set_ylim(min(0.0, min(y)), 1.02)
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
        axis.set_title("Stopping criterion: stabilizing predictions")
        sections.append(f"<h2>Stopping criterion</h2>{_png(fig)}")
    if project.config.routing.enabled:
        sections.append(_routing_section(project))
    # Items chosen in each cycle.
    chosen = ["<h2>Items chosen in each cycle</h2>"]
    for cycle in state.cycles():
        batch = cycle.get("batch_id")
        if batch is None:
            continue
        items = state.batch_items(batch)[:15]
        table_rows = [
            [
                r["rank"],
                r["item_id"],
                r["score"]
                if r["score"] is not None
                else "at random"
                if drawn_at_random(r["score"], r["route"])
                else r["route"],
                r["predicted"] or "—",
                r["confidence"] if r["confidence"] is not None else "—",
            ]
            for r in items
        ]
        chosen.append(
            f"<details><summary>cycle {cycle['cycle']}: {batch}</summary>"
            + _table(["rank", "item", "score", "model's guess", "confidence"], table_rows)
            + "</details>"
        )
    sections.append("".join(chosen))
    # Registered versions.
    sections.append(
        "<h2>Registered model versions</h2>"
        + _table(
            ["version", "cycle", "labels", "accuracy", "macro-F1", "champion"],
            [
                [
                    v["version"],
                    v["cycle"],
                    v["labels"],
                    v["accuracy"],
                    v["macro_f1"],
                    "yes" if v["champion"] else "",
                ]
                for v in versions
            ],
        )
    )
    return _page(f"labelloop report: {project.config.name}", sections)


def _exploration_note(meta: dict[str, Any], strategies: dict[str, Any]) -> str:
    """``, exploration auto (margin: 12% of picks at random)``, or nothing without one."""
    from labelloop.learners import STRATEGIES

    setting = meta.get("exploration") or 0.0
    if setting == 0.0:
        return ""
    drawn = [
        f"{name}: {v['explored']:.0%}"
        for name, v in strategies.items()
        if "explored" in v and name in STRATEGIES and STRATEGIES[name].needs_model
    ]
    measured = f" ({', '.join(drawn)} of the picks after the first model at random)"
    return f", exploration {html.escape(str(setting))}" + (measured if drawn else "")


def simulation_report(folder: Path) -> str:
    """Build the report of a `labelloop simulate` output folder (strategies and/or routing)."""
    sections: list[str] = []
    title = f"labelloop simulation: {folder.name}"
    if (folder / "summary.json").is_file():
        title, sections = _strategies_sections(folder)
    if (folder / "routing.json").is_file():
        sections.append(_routing_simulation_section(folder))
    return _page(title, sections)


def _strategies_sections(folder: Path) -> tuple[str, list[str]]:
    summary = json.loads((folder / "summary.json").read_text())
    meta, strategies = summary["meta"], summary["strategies"]
    image = base64.b64encode((folder / "curves.png").read_bytes()).decode()

    def cell(value: dict[str, Any]) -> str:
        if value["mean"] is None:
            return "never" if value["n"] == 0 else f"{value['n']}/{value['of']} seeds"
        return (
            f"{value['mean']:.3f} ± {value['std']:.3f}"
            if value["mean"] < 2
            else f"{value['mean']:.0f} ± {value['std']:.0f}"
        )

    rows = [
        [
            name,
            cell(v["aulc"]),
            cell(v["final_accuracy"]),
            cell(v["labels_to_95"]),
            cell(v["labels_to_99"]),
            cell(v["stopped_at"]),
        ]
        for name, v in strategies.items()
    ]
    sections = [
        f"<p>{meta['n_items']} items, {meta['n_eval']} held out, batch {meta['batch_size']}, "
        f"budget {meta['budget']}, seeds {meta['seeds']}{_exploration_note(meta, strategies)}."
        "</p>",
        f"<h2>Learning curves</h2><img alt='' src='data:image/png;base64,{image}'>",
        "<h2>Strategies compared</h2>"
        + _table(
            [
                "strategy",
                "AULC",
                "final accuracy",
                "labels to 95%",
                "labels to 99%",
                "stopping rule fired at",
            ],
            rows,
        ),
    ]
    return f"labelloop simulation: {meta['config']}", sections


def _routing_simulation_section(folder: Path) -> str:
    data = json.loads((folder / "routing.json").read_text())
    image = base64.b64encode((folder / "routing.png").read_bytes()).decode()
    rows = [
        [
            r["strategy"],
            r["seed"],
            r["n_items"],
            r["evaluation_labels"] + r["strategy_labels"] + r["audit_labels"],
            r["machine_labels"],
            r["machine_precision"] if r["machine_precision"] is not None else "—",
            r["worst_class_precision"] if r["worst_class_precision"] is not None else "—",
            ("yes" if r["meets_target"] else "NO") if r["machine_labels"] else "—",
            f"{r['human_labels_saved']:.1%}",
        ]
        for r in data["rows"]
    ]
    return (
        f"<h2>Human in the loop (target precision {data['target']})</h2>"
        f"<img alt='' src='data:image/png;base64,{image}'>"
        + _table(
            [
                "strategy",
                "seed",
                "items",
                "human labels so far",
                "machine labels",
                "machine precision (gold)",
                "worst class",
                "meets target",
                "human labels saved",
            ],
            rows,
        )
    )


def _routing_section(project: LabellingProject) -> str:
    """Human in the loop: thresholds and evidence, routes, audits, corrections."""
    from labelloop.annotate.loop.routing import audit_outcomes, class_rows, corrections

    state, routing = project.state, project.config.routing
    summary = state.routing_summary()
    head = (
        f"<h2>Human in the loop</h2><p>Machine labels must reach precision "
        f"{routing.target_precision} at a {routing.confidence:.0%} one-sided lower bound; "
        f"{routing.audit.rate:.0%} of them are audited blind.</p>"
    )
    if summary is None:
        return head + "<p>No routing yet: it starts once a model is trained.</p>"
    outcomes = state.prediction_outcomes()
    fixes = corrections(outcomes)
    rows = []
    for row in class_rows(project):
        n_audits, confirmed = row["audits"]
        reviewed, fixed = row["corrections"]
        rows.append(
            [
                row["label"],
                "people only"
                if row["people_only"]
                else (row["threshold"] if row["threshold"] is not None else "none"),
                row["evidence"],
                row["lower_bound"],
                f"{confirmed}/{n_audits}" if n_audits else "—",
                reviewed,
                (fixed / reviewed) if reviewed else "—",
            ]
        )
    counts, audit = summary["counts"], summary["audit"]
    audits = audit_outcomes(outcomes)
    verdict = ("SUSPENDED: " if audit["suspended"] else "") + str(audit["reason"])
    parts = [
        head,
        f"<div class='verdict'><b>Routes after cycle {summary['cycle']}</b> "
        f"({html.escape(str(summary['model_version']))}): auto {counts['auto']}, review "
        f"{counts['review']}, human {counts['human']} of {summary['n_pool']} items. "
        f"<b>Audits:</b> {len(audits)} labelled, {sum(audits)} confirmed; "
        f"{html.escape(verdict)}</div>",
        _table(
            [
                "class",
                "threshold",
                "evidence (correct/items)",
                "lower bound",
                "audits confirmed",
                "reviewed",
                "correction rate",
            ],
            rows,
        ),
    ]
    versions = [
        [version, reviewed, fixed / reviewed]
        for version, (reviewed, fixed) in fixes["by_version"].items()
    ]
    if versions:
        parts.append(
            "<h3>Corrections per model version</h3>"
            + _table(["model version", "pre-annotations reviewed", "correction rate"], versions)
        )
    return "".join(parts)

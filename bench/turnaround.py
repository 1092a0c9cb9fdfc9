"""Turnaround of one cycle, from new labels to the next batch visible in Label Studio.

Real Label Studio, real MLflow (SQLite in the work dir), text pools of 10,000 and
100,000 items, with routing off and on (on: every open item is routed, audits drawn).
Targets: under 2 s on 10,000 and under 5 s on 100,000 items, model logging included;
MLflow under 10 % of the cycle.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._pools import bbc_frame
from labelloop.annotate.config.schema import ProjectConfig
from labelloop.annotate.labelstudio.client import sdk_client
from labelloop.annotate.labelstudio.server import free_port, start_server, stop_server
from labelloop.annotate.loop.cycle import run_cycle
from labelloop.annotate.loop.features import load_project_pool, project_features
from labelloop.annotate.loop.project import open_project
from labelloop.annotate.loop.tracking import Tracker


@dataclass
class Row:
    pool: int
    routing: bool
    turnaround: float
    phases: dict[str, float]
    mlflow_share: float


def _write_pool(folder: Path, size: int) -> Path:
    path = folder / f"pool-{size}.csv"
    bbc_frame(size, max_chars=600).to_csv(path, index=False)
    return path


def _annotate(client: Any, project: Any) -> None:
    gold = dict(zip(project.pool.ids.tolist(), project.pool.labels.tolist(), strict=True))
    annotated = {r["task_id"] for r in project.state.annotation_rows()}
    for item, task in project.state.task_map().items():
        if task not in annotated:
            client.annotations.create(
                id=task,
                result=[
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": [gold[item]]},
                    }
                ],
            )


def run(sizes: tuple[int, ...] = (10_000, 100_000), timed_cycles: int = 3) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        print("starting Label Studio ...", flush=True)
        _, credentials, _ = start_server(workdir, port=free_port(), timeout_s=300)
        client = sdk_client(credentials.url, credentials.api_key)
        try:
            for size, routing in [(n, r) for n in sizes for r in (False, True)]:
                print(
                    f"pool of {size:,}, routing {'on' if routing else 'off'}: writing, "
                    "featurizing (cached after) ...",
                    flush=True,
                )
                config = ProjectConfig.model_validate(
                    {
                        "name": f"turnaround-{size}{'-routed' if routing else ''}",
                        "data": {
                            "source": str(_write_pool(workdir, size)),
                            "id_column": "id",
                            "text_column": "text",
                            "label_column": "label",
                        },
                        "featurizer": {"kind": "tfidf", "max_features": 20000},
                        "model": {"params": {"max_iter": 1000, "C": 20.0}},
                        "batch_size": 20,
                        "budget": 10_000,
                        "evaluation": {"size": 100, "per_batch": 100},
                        "stopping": {"rule": "stabilizing_predictions", "stop_set_size": 1000},
                        "routing": {"enabled": routing, "target_precision": 0.9},
                    }
                )
                pool = load_project_pool(config)
                project = open_project(config, pool, workdir)
                X = project_features(config, pool, workdir / "cache")
                tracker = Tracker(workdir, config.name)
                for _ in range(2):  # cold start, then a first model
                    run_cycle(project, X, tracker)
                    _annotate(client, project)
                timings = []
                for _ in range(timed_cycles):
                    report = run_cycle(project, X, tracker)
                    timings.append(report.seconds)
                    _annotate(client, project)
                phases = {k: statistics.median(t.get(k, 0.0) for t in timings) for k in timings[0]}
                critical = ("pull", "train", "evaluate", "log", "score", "push")
                turnaround = sum(phases.get(k, 0.0) for k in critical)
                mlflow_part = phases.get("log", 0.0) + phases.get("mlflow_after_push", 0.0)
                total = sum(phases.values())
                rows.append(Row(size, routing, turnaround, phases, mlflow_part / total))
                project.close()
        finally:
            client._labelloop_http.close()
            stop_server(workdir)
    return rows


def table(rows: list[Row]) -> Any:
    from rich.table import Table

    out = Table(
        title="Cycle turnaround: labels in -> next batch in Label Studio (median of 3 cycles)",
        title_justify="left",
    )
    phases = [
        "pull",
        "train",
        "evaluate",
        "log",
        "score",
        "push",
        "mlflow_after_push",
        "render_after_push",
    ]
    for column in ["pool", "routing", "turnaround s", *phases, "MLflow share"]:
        out.add_column(column, justify="right")
    for row in rows:
        out.add_row(
            f"{row.pool:,}",
            "on" if row.routing else "off",
            f"{row.turnaround:.2f}",
            *(f"{row.phases.get(p, 0.0):.2f}" for p in phases),
            f"{100 * row.mlflow_share:.0f}%",
        )
    return out

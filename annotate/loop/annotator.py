"""`labelloop demo`: the whole real path, with a simulated annotator working in Label Studio."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.annotate.errors import ServerError
from labelloop.annotate.labelstudio.client import sdk_client
from labelloop.annotate.labelstudio.server import load_credentials
from labelloop.annotate.loop.project import LabellingProject

__all__ = ["SimulatedAnnotator", "demo_account"]


@dataclass
class SimulatedAnnotator:
    """Labels waiting tasks through the Label Studio API, as a team of people would.

    Each task gets one annotation from one of ``n_people`` annotator accounts; a share
    ``error_rate`` of them is a wrong label, drawn at random.
    """

    project: LabellingProject
    workdir: Path
    error_rate: float = 0.05
    n_people: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        credentials = load_credentials(self.workdir)
        if credentials is None:
            raise ServerError("the demo needs the embedded Label Studio (no credentials found)")
        self.client = sdk_client(self.project.gateway.url, credentials.api_key)
        self.rng = np.random.default_rng(self.seed)
        self.people = self._accounts()
        pool = self.project.pool
        self.gold = dict(zip(pool.ids.tolist(), pool.labels.tolist(), strict=True))

    def _accounts(self) -> list[int]:
        existing = {u.email: u.id for u in self.client.users.list()}
        ids = []
        for k in range(1, self.n_people + 1):
            account = demo_account(k)
            if account["email"] not in existing:
                existing[account["email"]] = self.client.users.create(**account).id
            ids.append(int(existing[account["email"]]))
        return ids

    def label_waiting(self, limit: int | None = None) -> tuple[int, int]:
        """Label tasks that have no annotation yet, best rank first; return (done, wrong)."""
        state = self.project.state
        annotated = {r["task_id"] for r in state.annotation_rows() if r["status"] != "deleted"}
        waiting = [(item, task) for item, task in state.task_map().items() if task not in annotated]
        waiting.sort(key=lambda pair: pair[1])  # task ids follow rank within each batch
        done = wrong = 0
        name = {"text": "text", "image": "image", "tabular": "table"}[self.project.kind]
        for item, task in waiting[:limit]:
            label = self.gold[item]
            if self.rng.random() < self.error_rate:
                label = str(self.rng.choice([x for x in self.project.labels if x != label]))
                wrong += 1
            person = self.people[int(self.rng.integers(len(self.people)))]
            self.client.annotations.create(
                id=task,
                result=[
                    {
                        "from_name": "label",
                        "to_name": name,
                        "type": "choices",
                        "value": {"choices": [label]},
                    }
                ],
                completed_by=person,
                lead_time=float(self.rng.uniform(3, 20)),
            )
            done += 1
        return done, wrong

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client._labelloop_http.close()


def demo_account(k: int) -> dict[str, str]:
    """Return the username, email and password of the demo's annotator number ``k``.

    The accounts work through the API only, so nobody needs their password: it is
    random, never shown and never kept, where a guessable one would open the web UI.

    Examples
    --------
    >>> first = demo_account(1)
    >>> first["email"], first["password"] == demo_account(1)["password"]
    ('annotator-1@labelloop.local', False)
    """
    return {
        "username": f"annotator-{k}",
        "email": f"annotator-{k}@labelloop.local",
        "password": secrets.token_urlsafe(24),
    }


def champion_summary(tracker: Any) -> str:
    """Describe the registered model's champion version."""
    try:
        version = tracker.client.get_model_version_by_alias(tracker.model_name, "champion")
    except Exception:  # MLflow raises RestException when there is no champion yet
        return "no champion yet"
    metrics = tracker.client.get_run(version.run_id).data.metrics
    score = metrics.get("macro_f1", float("nan"))
    return f"{tracker.model_name} version {version.version} (macro-F1 {score:.3f})"


def champion_examples(
    tracker: Any, project: Any, n: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """Score ``n`` raw items nobody labelled with the champion, loaded as MLflow serves it.

    Returns one dict per item: ``item_id``, ``shown`` (its title or the start of its
    text), ``predicted``, ``confidence`` and ``gold`` (None without gold labels).
    """
    import numpy as np

    from labelloop.annotate.loop.packaging import raw_rows

    model = tracker.load_model(tracker.model_uri("champion"))
    inputs = dict(model.model_config["inputs"])
    labelled = set(project.state.resolutions())
    open_ids = [i for i in project.pool.ids.tolist() if i not in labelled]
    if not open_ids:
        return []
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(open_ids), size=min(n, len(open_ids)), replace=False))
    ids = [open_ids[k] for k in picked]
    scores = model.predict(raw_rows(project.pool, inputs, ids))
    frame = project.pool.frame
    shown_column = "title" if "title" in frame.columns else project.pool.text_column
    gold = project.pool.labels if project.pool.label_column else None
    positions = project.pool.positions(ids)
    out = []
    for k, item in enumerate(ids):
        row = scores.iloc[k]
        shown = str(frame.at[item, shown_column]) if shown_column else item
        out.append(
            {
                "item_id": item,
                "shown": shown if len(shown) <= 60 else shown[:57] + "...",
                "predicted": str(row.idxmax()),
                "confidence": float(row.max()),
                "gold": None if gold is None else gold[positions[k]],
            }
        )
    return out

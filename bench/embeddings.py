"""Embedding speed: labelloop's numpy all-MiniLM-L6-v2 encoder on short and long texts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.table import Table


@dataclass
class EmbeddingRow:
    texts: str
    count: int
    median_tokens: int
    seconds: float
    per_1000: float


def run() -> list[EmbeddingRow]:
    import numpy as np

    from labelloop.datasets import load_demo_pool
    from labelloop.datasets._minilm import MiniLMEncoder

    encoder = MiniLMEncoder()
    texts = list(load_demo_pool("bbc_news").texts)
    cases = [
        ("short: first 120 characters of BBC articles", [t[:120] for t in texts[:1000]]),
        ("long: whole BBC articles (cut at 256 tokens)", texts[1000:1200]),
    ]
    rows = []
    for name, chosen in cases:
        tokens = [len(e.ids) for e in encoder.tokenizer.encode_batch(chosen)]
        started = time.perf_counter()
        encoder.encode(chosen)
        seconds = time.perf_counter() - started
        rows.append(
            EmbeddingRow(
                name, len(chosen), int(np.median(tokens)), seconds, 1000 * seconds / len(chosen)
            )
        )
    return rows


def table(rows: list[EmbeddingRow]) -> Table:
    out = Table(title="numpy all-MiniLM-L6-v2 encoder (no torch), this machine's cores")
    for name in ("texts", "count", "median tokens", "seconds", "seconds per 1,000 texts"):
        out.add_column(name, justify="left" if name == "texts" else "right")
    for r in rows:
        out.add_row(
            r.texts, str(r.count), str(r.median_tokens), f"{r.seconds:.1f}", f"{r.per_1000:.1f}"
        )
    return out

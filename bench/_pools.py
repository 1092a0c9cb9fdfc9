"""Large text pools for the benchmarks, built from the bundled BBC News articles."""

from __future__ import annotations

import pandas as pd

from labelloop.datasets import load_demo_pool


def bbc_frame(size: int, *, id_prefix: str = "doc", max_chars: int | None = None) -> pd.DataFrame:
    """Return ``size`` rows (id, text, label) cycling through BBC News, each text unique."""
    bbc = load_demo_pool("bbc_news")
    texts, labels = bbc.texts, bbc.labels.tolist()
    return pd.DataFrame(
        {
            "id": [f"{id_prefix}-{k:06d}" for k in range(size)],
            "text": [f"{texts[k % len(texts)][:max_chars]} [{k}]" for k in range(size)],
            "label": [labels[k % len(texts)] for k in range(size)],
        }
    )

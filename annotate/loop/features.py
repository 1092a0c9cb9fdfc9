"""From a config to a pool, its features and an estimator."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from labelloop.annotate.config.schema import ProjectConfig
from labelloop.datasets import (
    HASHING_FEATURES,
    EmbeddingFeaturizer,
    FeatureMatrix,
    Featurizer,
    HashingFeaturizer,
    NumericFeaturizer,
    ParquetPool,
    Pool,
    TfidfFeaturizer,
    featurize,
    fitted_featurizer,
    load_demo_pool,
    load_pool,
)

__all__ = [
    "default_cache_dir",
    "load_project_pool",
    "make_featurizer",
    "project_featurizer",
    "project_features",
]


def load_project_pool(config: ProjectConfig) -> Pool:
    """Load the pool a config names (a file, or ``bundled:NAME``)."""
    source = config.data.source
    if source.startswith("bundled:"):
        return load_demo_pool(source.removeprefix("bundled:"))
    return load_pool(
        config.data_path(),
        id_column=config.data.id_column,
        text_column=config.data.text_column,
        feature_columns=config.data.feature_columns,
        label_column=config.data.label_column,
        categorical_columns=config.data.categorical_columns,
        missing_numbers=config.data.missing_numbers,
    )


def make_featurizer(config: ProjectConfig, source: ParquetPool | None = None) -> Featurizer:
    """Build the featurizer the config asks for.

    With ``source`` (a partitioned pool whose moments were measured), numeric features
    are standardized by the whole pool's mean and scale, as the streaming scorer does.
    """
    settings = config.featurizer
    if settings.kind == "tfidf":
        return TfidfFeaturizer(
            max_features=settings.max_features, ngram_max=settings.ngram_max, min_df=settings.min_df
        )
    if settings.kind == "hashing":
        return HashingFeaturizer(
            n_features=source.hashing_features if source is not None else HASHING_FEATURES
        )
    if settings.kind == "numeric":
        if source is not None and settings.scale:
            return NumericFeaturizer(scale=True, mean=source.mean, std=source.scale)
        return NumericFeaturizer(
            scale=settings.scale, impute=config.data.missing_numbers == "median"
        )
    return EmbeddingFeaturizer()


def default_cache_dir(workdir: Path | None = None) -> Path:
    """Feature cache folder.

    ``$LABELLOOP_CACHE_DIR`` if set; else ``<workdir>/cache/features`` for a project;
    else (offline simulations) ``$XDG_CACHE_HOME/labelloop/features``.
    """
    if os.environ.get("LABELLOOP_CACHE_DIR"):
        return Path(os.environ["LABELLOOP_CACHE_DIR"])
    if workdir is not None:
        return workdir / "cache" / "features"
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home) / "labelloop" / "features"


def project_features(
    config: ProjectConfig,
    pool: Pool,
    cache_dir: Path | None = None,
    *,
    source: ParquetPool | None = None,
) -> FeatureMatrix:
    """Compute (or load from the cache) the pool's features.

    With ``source``, ``pool`` is the working set of that partitioned pool: its features
    are computed as the streaming scorer computes them, and not cached (the working
    set changes every cycle).
    """
    if source is not None:
        return featurize(pool, make_featurizer(config, source))
    return featurize(pool, make_featurizer(config), cache_dir or default_cache_dir())


def project_featurizer(
    config: ProjectConfig,
    pool: Pool,
    cache_dir: Path | None = None,
    *,
    source: ParquetPool | None = None,
) -> Any:
    """Return the config's featurizer fitted on the pool, as a transformer of raw rows.

    None for a stateless featurizer (embeddings). Cached beside the features, except
    for the working set of a partitioned pool (``source``).
    """
    if source is not None:
        if config.featurizer.kind == "embeddings":
            return None  # stateless: nothing to fit (and no need to embed the pool here)
        return fitted_featurizer(pool, make_featurizer(config, source))
    return fitted_featurizer(pool, make_featurizer(config), cache_dir or default_cache_dir())

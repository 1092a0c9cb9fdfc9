"""From a config to a pool, its features and an estimator."""

from __future__ import annotations

import os
from pathlib import Path

from labelloop.annotate.config.schema import ProjectConfig
from labelloop.datasets import (
    EmbeddingFeaturizer,
    FeatureMatrix,
    Featurizer,
    NumericFeaturizer,
    Pool,
    TfidfFeaturizer,
    featurize,
    load_demo_pool,
    load_pool,
)

__all__ = ["default_cache_dir", "load_project_pool", "make_featurizer", "project_features"]


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
    )


def make_featurizer(config: ProjectConfig) -> Featurizer:
    """Build the featurizer the config asks for."""
    settings = config.featurizer
    if settings.kind == "tfidf":
        return TfidfFeaturizer(
            max_features=settings.max_features, ngram_max=settings.ngram_max, min_df=settings.min_df
        )
    if settings.kind == "numeric":
        return NumericFeaturizer(scale=settings.scale)
    return EmbeddingFeaturizer()


def default_cache_dir() -> Path:
    """Feature cache folder: ``$LABELLOOP_CACHE_DIR`` or ``.labelloop-cache`` here."""
    return Path(os.environ.get("LABELLOOP_CACHE_DIR", ".labelloop-cache"))


def project_features(
    config: ProjectConfig, pool: Pool, cache_dir: Path | None = None
) -> FeatureMatrix:
    """Compute (or load from the cache) the pool's features."""
    return featurize(pool, make_featurizer(config), cache_dir or default_cache_dir())

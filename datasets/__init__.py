"""labelloop datasets: pools with stable ids, validated loaders, featurizers, demo pools.

This is labelloop's own ``datasets`` package; it is unrelated to Hugging Face
``datasets``, which labelloop never installs.
"""

from datasets._demo import DEMO_POOLS, load_demo_pool
from datasets._errors import (
    ColumnError,
    DataError,
    DataFileError,
    DuplicateIdError,
    EmptyTextError,
    FeatureValueError,
    LabelError,
)
from datasets._featurizers import (
    EmbeddingFeaturizer,
    FeatureMatrix,
    Featurizer,
    NumericFeaturizer,
    TfidfFeaturizer,
    cache_key,
    featurize,
)
from datasets._loaders import SUPPORTED_SUFFIXES, load_pool, pool_from_frame, read_table
from datasets._pool import Pool

__labelloop__ = True

__all__ = [
    "DEMO_POOLS",
    "SUPPORTED_SUFFIXES",
    "ColumnError",
    "DataError",
    "DataFileError",
    "DuplicateIdError",
    "EmbeddingFeaturizer",
    "EmptyTextError",
    "FeatureMatrix",
    "FeatureValueError",
    "Featurizer",
    "LabelError",
    "NumericFeaturizer",
    "Pool",
    "TfidfFeaturizer",
    "cache_key",
    "featurize",
    "load_demo_pool",
    "load_pool",
    "pool_from_frame",
    "read_table",
]

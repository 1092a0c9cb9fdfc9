"""labelloop datasets: pools with stable ids, validated loaders, featurizers, demo pools.

Installed as ``labelloop.datasets``; it is unrelated to Hugging Face ``datasets``, and
the two live side by side in one environment.

Names load on first use, so importing the package, or one error class from it,
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labelloop.datasets._lazy import lazy_names

if TYPE_CHECKING:
    from labelloop.datasets._demo import DEMO_POOLS, load_demo_pool
    from labelloop.datasets._errors import (
        ColumnError,
        DataError,
        DataFileError,
        DuplicateIdError,
        EmptyTextError,
        FeatureValueError,
        LabelError,
        LabelloopError,
        MissingExtraError,
        UnknownDemoPoolError,
    )
    from labelloop.datasets._featurizers import (
        EmbeddingFeaturizer,
        FeatureMatrix,
        Featurizer,
        HashingFeaturizer,
        NumericFeaturizer,
        TfidfFeaturizer,
        cache_key,
        featurize,
        fitted_featurizer,
    )
    from labelloop.datasets._loaders import (
        MISSING_LABELS,
        NUMBER_GAPS,
        SUPPORTED_SUFFIXES,
        category_text,
        fits_whole,
        load_pool,
        number_gaps,
        pool_from_frame,
        read_table,
    )
    from labelloop.datasets._parquet import (
        HASHING_FEATURES,
        ParquetPool,
        column_values,
        is_partitioned_source,
        parquet_files,
        sample_parquet,
    )
    from labelloop.datasets._pool import Pool

__labelloop__ = True

__all__ = [
    "ColumnError",
    "DEMO_POOLS",
    "DataError",
    "DataFileError",
    "DuplicateIdError",
    "EmbeddingFeaturizer",
    "EmptyTextError",
    "FeatureMatrix",
    "FeatureValueError",
    "Featurizer",
    "HASHING_FEATURES",
    "HashingFeaturizer",
    "LabelError",
    "LabelloopError",
    "MissingExtraError",
    "NumericFeaturizer",
    "ParquetPool",
    "Pool",
    "SUPPORTED_SUFFIXES",
    "TfidfFeaturizer",
    "UnknownDemoPoolError",
    "cache_key",
    "column_values",
    "featurize",
    "fitted_featurizer",
    "is_partitioned_source",
    "load_demo_pool",
    "load_pool",
    "parquet_files",
    "MISSING_LABELS",
    "NUMBER_GAPS",
    "number_gaps",
    "category_text",
    "pool_from_frame",
    "fits_whole",
    "read_table",
    "sample_parquet",
]

_HOMES = {
    "ColumnError": "labelloop.datasets._errors",
    "DEMO_POOLS": "labelloop.datasets._demo",
    "DataError": "labelloop.datasets._errors",
    "DataFileError": "labelloop.datasets._errors",
    "DuplicateIdError": "labelloop.datasets._errors",
    "EmbeddingFeaturizer": "labelloop.datasets._featurizers",
    "EmptyTextError": "labelloop.datasets._errors",
    "FeatureMatrix": "labelloop.datasets._featurizers",
    "FeatureValueError": "labelloop.datasets._errors",
    "Featurizer": "labelloop.datasets._featurizers",
    "HASHING_FEATURES": "labelloop.datasets._parquet",
    "HashingFeaturizer": "labelloop.datasets._featurizers",
    "LabelError": "labelloop.datasets._errors",
    "LabelloopError": "labelloop.datasets._errors",
    "MissingExtraError": "labelloop.datasets._errors",
    "NumericFeaturizer": "labelloop.datasets._featurizers",
    "ParquetPool": "labelloop.datasets._parquet",
    "Pool": "labelloop.datasets._pool",
    "SUPPORTED_SUFFIXES": "labelloop.datasets._loaders",
    "TfidfFeaturizer": "labelloop.datasets._featurizers",
    "UnknownDemoPoolError": "labelloop.datasets._errors",
    "cache_key": "labelloop.datasets._featurizers",
    "column_values": "labelloop.datasets._parquet",
    "featurize": "labelloop.datasets._featurizers",
    "fitted_featurizer": "labelloop.datasets._featurizers",
    "is_partitioned_source": "labelloop.datasets._parquet",
    "load_demo_pool": "labelloop.datasets._demo",
    "parquet_files": "labelloop.datasets._parquet",
    "load_pool": "labelloop.datasets._loaders",
    "pool_from_frame": "labelloop.datasets._loaders",
    "category_text": "labelloop.datasets._loaders",
    "MISSING_LABELS": "labelloop.datasets._loaders",
    "NUMBER_GAPS": "labelloop.datasets._loaders",
    "number_gaps": "labelloop.datasets._loaders",
    "fits_whole": "labelloop.datasets._loaders",
    "read_table": "labelloop.datasets._loaders",
    "sample_parquet": "labelloop.datasets._parquet",
}

__getattr__, __dir__ = lazy_names(__name__, _HOMES)

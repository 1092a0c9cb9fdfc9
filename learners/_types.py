"""Shared types: what a classifier must offer, and what a feature matrix is."""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

__all__ = ["Matrix", "ProbabilisticClassifier"]

Matrix: TypeAlias = NDArray[np.floating[Any]] | sp.csr_matrix


@runtime_checkable
class ProbabilisticClassifier(Protocol):
    """A fitted classifier with ``predict_proba`` whose columns follow ``classes_``."""

    classes_: NDArray[Any]

    def predict_proba(self, X: Any) -> NDArray[np.floating[Any]]:
        """Return class probabilities, one row per sample, columns in ``classes_`` order."""
        ...

"""The pool: immutable items with stable ids, their raw columns and optional gold labels."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Pool"]


@dataclass(frozen=True, eq=False)
class Pool:
    """A fixed set of items to label, addressed by stable string ids.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per item, indexed by item id (strings, unique). Holds the text
        column and/or the feature columns, the optional label column, and any
        other column of the source file.
    text_column : str or None
        Column holding the item text.
    feature_columns : tuple of str
        Columns used as features: numbers, and the categories named in
        ``categorical_columns``.
    label_column : str or None
        Column of gold labels (strings); missing values mean "not known".
    source : str
        Where the pool came from (a path or ``bundled:NAME``), for messages.
    categorical_columns : tuple of str
        The feature columns that hold categories (strings, ``""`` where missing),
        one-hot encoded by the numeric featurizer; the others are numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"text": ["a b", "c d"], "y": ["x", "z"]}, index=["i1", "i2"])
    >>> pool = Pool(frame, text_column="text", feature_columns=(), label_column="y")
    >>> len(pool), pool.ids.tolist()
    (2, ['i1', 'i2'])
    """

    frame: pd.DataFrame
    text_column: str | None = None
    feature_columns: tuple[str, ...] = ()
    label_column: str | None = None
    source: str = "<memory>"
    categorical_columns: tuple[str, ...] = ()
    _hash: list[str] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> NDArray[np.str_]:
        """Item ids in pool order."""
        return np.asarray(self.frame.index, dtype=str)

    @property
    def texts(self) -> list[str]:
        """The item texts in pool order.

        Raises
        ------
        ValueError
            If the pool has no text column.
        """
        if self.text_column is None:
            raise ValueError(f"pool {self.source} has no text column")
        return [str(t) for t in self.frame[self.text_column].tolist()]

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        """The feature columns that hold numbers (not categories)."""
        return tuple(c for c in self.feature_columns if c not in self.categorical_columns)

    @property
    def features(self) -> NDArray[np.float64]:
        """The numeric feature columns as a dense ``(n_items, n_numeric)`` array."""
        numeric = list(self.numeric_columns)
        if not numeric:
            return np.empty((len(self), 0), dtype=np.float64)
        return self.frame.loc[:, numeric].to_numpy(dtype=np.float64)

    @property
    def has_labels(self) -> bool:
        """Whether every item carries a gold label."""
        return self.label_column is not None and bool(self.frame[self.label_column].notna().all())

    @property
    def labels(self) -> NDArray[np.object_]:
        """Gold labels in pool order (strings; ``None`` where unknown).

        Raises
        ------
        ValueError
            If the pool has no label column.
        """
        if self.label_column is None:
            raise ValueError(f"pool {self.source} has no label column")
        column = self.frame[self.label_column]
        return np.asarray([None if pd.isna(v) else str(v) for v in column], dtype=object)

    @property
    def classes(self) -> list[str]:
        """Sorted distinct gold labels (empty without a label column)."""
        if self.label_column is None:
            return []
        return sorted({str(v) for v in self.frame[self.label_column].dropna()})

    def positions(self, ids: Sequence[str] | NDArray[np.str_]) -> NDArray[np.intp]:
        """Map item ids to row positions.

        Raises
        ------
        KeyError
            Naming the first id that is not in the pool.
        """
        index = self.frame.index
        positions = index.get_indexer(pd.Index(list(ids)))
        missing = np.flatnonzero(positions < 0)
        if missing.size:
            raise KeyError(f"item id {list(ids)[missing[0]]!r} is not in pool {self.source}")
        return positions.astype(np.intp)

    def content_hash(self) -> str:
        """Hash of ids, texts, features and column roles; keys feature caches."""
        if not self._hash:
            digest = hashlib.sha256()
            roles = f"{self.text_column}|{','.join(self.feature_columns)}"
            if self.categorical_columns:
                roles += f"|categorical:{','.join(self.categorical_columns)}"
            digest.update(roles.encode())
            columns = [c for c in (self.text_column, *self.feature_columns) if c is not None]
            hashed = pd.util.hash_pandas_object(self.frame.loc[:, columns], index=True)
            digest.update(hashed.to_numpy().tobytes())
            self._hash.append(digest.hexdigest())
        return self._hash[0]

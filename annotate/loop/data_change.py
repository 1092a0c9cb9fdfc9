"""Notice a changed data file: a digest of each item's payload, kept in the project's state.

Labels belong to what people saw. When an item's text or feature values change, or an
item goes away, its labels must stop counting; until someone accepts the new file, no
command touches the state. Items that only joined the pool are accepted at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelloop.annotate.config.schema import ProjectConfig
from labelloop.annotate.errors import DataChangedError
from labelloop.annotate.state.store import StateStore
from labelloop.datasets import Pool

__all__ = [
    "Accepted",
    "DataChange",
    "accept_data",
    "check_data",
    "compare",
    "item_fingerprints",
    "refuse_unaccepted",
]


def item_fingerprints(pool: Pool) -> dict[str, str]:
    """Return item id -> a digest of its payload (its text, then its feature values).

    Feature values are hashed as float64 bytes, texts as UTF-8: the digest depends on
    neither the file format nor the pandas version.

    Examples
    --------
    >>> import pandas as pd
    >>> from labelloop.datasets import Pool
    >>> frame = pd.DataFrame({"text": ["a", "b"]}, index=["i1", "i2"])
    >>> digests = item_fingerprints(Pool(frame, text_column="text"))
    >>> digests["i1"] != digests["i2"], len(digests["i1"])
    (True, 40)
    """
    ids = pool.ids.tolist()
    texts = pool.texts if pool.text_column is not None else [""] * len(ids)
    features = pool.features
    # Categories are hashed after the numbers, only where a pool has them, so a pool of
    # numbers or texts keeps the digests it always had.
    categories: list[str] | None = None
    if pool.categorical_columns:
        first, *rest = pool.categorical_columns
        joined = pool.frame[first].astype(str)
        for column in rest:
            joined = joined + "\x1f" + pool.frame[column].astype(str)
        categories = joined.tolist()
    out: dict[str, str] = {}
    for row, item in enumerate(ids):
        digest = hashlib.sha1(texts[row].encode())
        digest.update(b"\x1f")
        digest.update(np.ascontiguousarray(features[row], dtype="<f8").tobytes())
        if categories is not None:
            digest.update(b"\x1e" + categories[row].encode())
        out[item] = digest.hexdigest()
    return out


@dataclass(frozen=True)
class DataChange:
    """How a data file differs from the one the project accepted last (item ids)."""

    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def needs_accepting(self) -> bool:
        """Whether labels are at stake: an item changed or went away."""
        return bool(self.changed or self.removed)

    def summary(self) -> str:
        """Return e.g. ``3 items changed, 2 added, 1 removed``."""
        n = len(self.changed)
        return (
            f"{n} item{'' if n == 1 else 's'} changed, {len(self.added)} added, "
            f"{len(self.removed)} removed"
        )


def compare(stored: dict[str, str], current: dict[str, str]) -> DataChange:
    """Compare two ``item id -> digest`` maps.

    Examples
    --------
    >>> compare({"a": "1", "b": "2"}, {"a": "9", "c": "3"}).summary()
    '1 item changed, 1 added, 1 removed'
    """
    return DataChange(
        changed=tuple(sorted(i for i in stored.keys() & current.keys() if stored[i] != current[i])),
        added=tuple(sorted(current.keys() - stored.keys())),
        removed=tuple(sorted(stored.keys() - current.keys())),
    )


def check_data(
    state: StateStore, config: ProjectConfig, pool: Pool, config_file: Path | None = None
) -> DataChange | None:
    """Compare the pool with the state's fingerprints; refuse a change nobody accepted.

    A state without fingerprints (a new project, or one from before they existed)
    records them. Added items alone are recorded too, and returned so the caller can
    say so.

    Returns
    -------
    DataChange or None
        The added items when some joined the pool; None when nothing changed.

    Raises
    ------
    DataChangedError
        When items changed or went away, before anything is written.
    """
    current = item_fingerprints(pool)
    stored = state.fingerprints()
    if not stored:
        state.add_fingerprints(current)
        return None
    change = compare(stored, current)
    refuse_unaccepted(change, config, config_file)
    if change.added:
        state.add_fingerprints({i: current[i] for i in change.added})
        return change
    return None


def refuse_unaccepted(
    change: DataChange, config: ProjectConfig, config_file: Path | None = None
) -> None:
    """Raise when items changed or went away: labels are at stake until someone accepts.

    Raises
    ------
    DataChangedError
        One line: the source, what changed, and the command that accepts it.
    """
    if change.needs_accepting:
        where = config_file if config_file is not None else "CONFIG"
        raise DataChangedError(
            f"data file {config.data.source} changed since the project was built: "
            f"{change.summary()}; run `labelloop accept-data --config {where}` to accept "
            "(changed items go back to people)"
        )


@dataclass(frozen=True)
class Accepted:
    """What accepting a data file did."""

    change: DataChange
    retired_labels: int


def accept_data(state: StateStore, pool: Pool) -> Accepted:
    """Make the pool's current payloads the project's, in one transaction.

    Changed items go back to people: their tasks are retired, their labels kept as
    history, never trained on or exported, and the items can be picked again. Removed
    items' labels are kept as history too; added items join the pool.
    """
    current = item_fingerprints(pool)
    change = compare(state.fingerprints(), current)
    retired = state.accept_data(current, changed=change.changed, removed=change.removed)
    return Accepted(change, retired)

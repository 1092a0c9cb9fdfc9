"""Summaries of learning curves: area under the curve, labels needed to reach a target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Spread", "area_under_curve", "labels_to_reach", "paired_interval", "spread"]


def area_under_curve(n_labels: Sequence[int], values: Sequence[float]) -> float:
    """Normalised area under a learning curve: the mean metric over the label range.

    Trapezoids over ``n_labels``, divided by the range, so 1.0 is a perfect curve and
    curves over the same range compare directly.

    Examples
    --------
    >>> area_under_curve([10, 20, 30], [0.5, 0.7, 0.9])
    0.7
    """
    x = np.asarray(n_labels, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan")
    if x.size == 1 or x[-1] == x[0]:
        return float(y[0])
    return round(float(np.trapezoid(y, x) / (x[-1] - x[0])), 12)


def labels_to_reach(n_labels: Sequence[int], values: Sequence[float], target: float) -> int | None:
    """Return the first label count at which ``values`` reaches ``target``; None if never.

    Examples
    --------
    >>> labels_to_reach([10, 20, 30], [0.5, 0.8, 0.9], 0.75)
    20
    """
    for count, value in zip(n_labels, values, strict=True):
        if value >= target:
            return int(count)
    return None


@dataclass(frozen=True)
class Spread:
    """A value across seeds: mean, standard deviation, and how many seeds had one."""

    mean: float | None
    std: float | None
    n: int
    of: int

    def as_dict(self) -> dict[str, float | int | None]:
        """Return a JSON-ready dict."""
        return {"mean": self.mean, "std": self.std, "n": self.n, "of": self.of}


def spread(values: Sequence[float | int | None]) -> Spread:
    """Mean and std across seeds; the mean is None unless every seed has a value.

    A seed that never reached a target has no value, and averaging the others would
    flatter the strategy, so such a mean is withheld and ``n`` says how many reached it.

    Examples
    --------
    >>> spread([100, 120, None]).mean is None
    True
    >>> spread([100, 120]).mean
    110.0
    """
    present = [float(v) for v in values if v is not None]
    total = len(values)
    if not present:
        return Spread(None, None, 0, total)
    std = float(np.std(present, ddof=1)) if len(present) > 1 else 0.0
    mean = float(np.mean(present)) if len(present) == total else None
    return Spread(mean, std if mean is not None else None, len(present), total)


def paired_interval(gaps: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean of paired differences (one per seed) with a 95% t interval.

    Returns
    -------
    (mean, low, high)
        ``low`` and ``high`` are None with fewer than two differences.

    Examples
    --------
    >>> mean, low, high = paired_interval([0.02, 0.03, 0.025])
    >>> round(mean, 3), low < mean < high
    (0.025, True)
    """
    from scipy import stats

    values = np.asarray(gaps, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half

"""Typed errors of the learners package; messages carry the real numbers.

They derive from :class:`labelloop.datasets.LabelloopError`, the root of labelloop's
one error tree (documented in ``labelloop.datasets._errors``).
"""

from __future__ import annotations

from labelloop.datasets._errors import LabelloopError

__all__ = [
    "EmptyPoolError",
    "EvaluationSetError",
    "LearnerError",
    "NotEnoughLabelsError",
    "PoolExhaustedError",
    "UnknownItemError",
    "UnknownStrategyError",
]


class LearnerError(LabelloopError, ValueError):
    """Base class of the learners package's errors."""


class EmptyPoolError(LearnerError):
    """A query was asked of a pool with no items at all."""


class PoolExhaustedError(LearnerError):
    """A query asked for more items than remain unlabelled."""


class NotEnoughLabelsError(LearnerError):
    """Training needs labels of at least two classes."""


class UnknownStrategyError(LearnerError):
    """A strategy name that is not in :data:`STRATEGIES`."""


class UnknownItemError(LearnerError):
    """An item id that is not in the pool."""


class EvaluationSetError(LearnerError):
    """The evaluation (or stop) set asked for does not fit the pool."""

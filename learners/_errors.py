"""Typed errors of the learners package; messages carry the real numbers."""

from __future__ import annotations

__all__ = ["EmptyPoolError", "LearnerError", "NotEnoughLabelsError", "PoolExhaustedError"]


class LearnerError(ValueError):
    """Base class of the learners package's errors."""


class EmptyPoolError(LearnerError):
    """A query was asked of a pool with no items at all."""


class PoolExhaustedError(LearnerError):
    """A query asked for more items than remain unlabelled."""


class NotEnoughLabelsError(LearnerError):
    """Training needs labels of at least two classes."""

"""Typed errors for bad input files; each message is one line naming the file and field."""

from __future__ import annotations

__all__ = [
    "ColumnError",
    "DataError",
    "DataFileError",
    "DuplicateIdError",
    "EmptyTextError",
    "FeatureValueError",
    "LabelError",
]


class DataError(ValueError):
    """Base class of every error raised for a bad pool file or bad pool data."""


class DataFileError(DataError):
    """The file is missing, of an unknown format, not UTF-8, or not parseable."""


class ColumnError(DataError):
    """A named column is missing, or no text or feature column was named."""


class DuplicateIdError(DataError):
    """Two rows share one item id."""


class EmptyTextError(DataError):
    """A text column holds an empty, blank or missing value."""


class FeatureValueError(DataError):
    """A feature column holds a value that is not a finite number."""


class LabelError(DataError):
    """The label column cannot support classification (fewer than two classes)."""

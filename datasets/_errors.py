"""labelloop's one error tree, rooted here because ``datasets`` is the lowest layer.

Every error labelloop raises on purpose derives from :class:`LabelloopError`; the
command line prints it as one line (``error: ...``) and exits 1. Anything else is a bug
and keeps its traceback. The tree::

    LabelloopError
    ├── DataError (also ValueError)           bad pool file or pool data     (datasets)
    │   ├── DataFileError, ColumnError, DuplicateIdError, EmptyTextError,
    │   │   FeatureValueError, LabelError, UnknownDemoPoolError
    ├── MissingExtraError (also ImportError)  an optional extra is not installed
    ├── LearnerError (also ValueError)        a query or fit that cannot be done (learners)
    │   ├── EmptyPoolError, PoolExhaustedError, NotEnoughLabelsError,
    │   │   UnknownStrategyError, UnknownItemError, EvaluationSetError
    ├── ConfigError (also ValueError)         a project config or option is wrong (annotate)
    ├── LabelStudioError                      Label Studio refused or is unreachable;
    │   │                                     ``status`` and ``body`` of the HTTP answer
    │   ├── LabelStudioUnavailableError       no answer now (also ServiceUnavailableError)
    │   └── ServerError                       the embedded server cannot start or stop
    ├── TrackingError                         MLflow refused or failed an operation
    │   └── TrackingUnavailableError          no answer now (also ServiceUnavailableError)
    ├── ServiceUnavailableError               a service is down; ``run`` waits for it
    ├── DataChangedError                      the data file changed under the project
    ├── ProjectBusyError                      another process holds the project's lock
    ├── ItemAlreadyQueuedError                a new batch asks for an item already queued
    └── TaskMapConflictError                  an item would map to a second task
"""

from __future__ import annotations

__all__ = [
    "ColumnError",
    "DataError",
    "DataFileError",
    "DuplicateIdError",
    "EmptyTextError",
    "FeatureValueError",
    "LabelError",
    "LabelloopError",
    "MissingExtraError",
    "UnknownDemoPoolError",
]


class LabelloopError(Exception):
    """Root of every error labelloop raises on purpose; its message is one line."""


class MissingExtraError(LabelloopError, ImportError):
    """An optional extra (e.g. the sentence-embedding model) is not installed."""


class DataError(LabelloopError, ValueError):
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


class UnknownDemoPoolError(DataError):
    """A ``bundled:NAME`` pool that labelloop does not ship."""

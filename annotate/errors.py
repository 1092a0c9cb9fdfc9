"""The errors of labelloop's live side, in the one tree rooted at :class:`LabelloopError`.

The whole tree is drawn in ``labelloop.datasets._errors``. The command line prints any
``LabelloopError`` as one line and exits 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from typing import Any

from labelloop.datasets._errors import DataError, LabelloopError
from labelloop.learners._errors import LearnerError

__all__ = [
    "redact_uri",
    "ConfigError",
    "DataError",
    "LabelStudioError",
    "LabelloopError",
    "LearnerError",
    "ModelNotFoundError",
    "DataChangedError",
    "ItemAlreadyQueuedError",
    "ProjectBusyError",
    "TaskMapConflictError",
    "ServerError",
    "ServiceUnavailableError",
    "LabelStudioUnavailableError",
    "TrackingError",
    "TrackingUnavailableError",
]


class ConfigError(LabelloopError, ValueError):
    """A project config is missing, unparseable, or has an invalid field."""


class LabelStudioError(LabelloopError):
    """Label Studio refused, could not be reached, or holds something unexpected.

    Parameters
    ----------
    message : str
        One line for people.
    status : int or None
        The HTTP status of Label Studio's answer; None when none came (unreachable).
    body : object
        The answer's body as Label Studio sent it (parsed JSON where it was JSON).

    Examples
    --------
    >>> error = LabelStudioError("not found", status=404, body={"detail": "Not found."})
    >>> error.status, str(error)
    (404, 'not found')
    """

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ServiceUnavailableError(LabelloopError):
    """A service the loop needs (Label Studio, an MLflow server) cannot be reached now.

    ``labelloop run`` waits for such an outage to end (bounded by a setting); other
    commands report it as one line. The error is about reachability, never about a
    refusal: a wrong key or a bad request is not one.

    Attributes
    ----------
    service : str
        What is down, for messages ("Label Studio at http://127.0.0.1:8080").
    """

    service = "a service labelloop needs"


class LabelStudioUnavailableError(ServiceUnavailableError, LabelStudioError):
    """Label Studio did not answer (connection refused, timed out, 502/503/504).

    Examples
    --------
    >>> error = LabelStudioUnavailableError("no answer", url="http://127.0.0.1:8080")
    >>> error.service, error.status
    ('Label Studio at http://127.0.0.1:8080', None)
    """

    def __init__(
        self, message: str, *, url: str, status: int | None = None, body: Any = None
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.service = f"Label Studio at {url}"


class TrackingError(LabelloopError):
    """MLflow refused or failed an operation (bad URI, full disk, a rejected request)."""


class TrackingUnavailableError(ServiceUnavailableError, TrackingError):
    """The MLflow tracking server did not answer."""

    service = "the MLflow tracking server"


class DataChangedError(LabelloopError):
    """The project's data file no longer matches the items the project was built on."""


class ServerError(LabelStudioError):
    """The embedded Label Studio server cannot be started, found or stopped."""


class ProjectBusyError(LabelloopError):
    """Another labelloop process holds the project's lock."""


class ModelNotFoundError(LabelloopError):
    """No registered model version answers to the alias or number asked for."""


class TaskMapConflictError(LabelloopError):
    """The state already maps an item (or a task) to another Label Studio task."""


class ItemAlreadyQueuedError(LabelloopError):
    """An item asked for in a new batch is already pushed, or waits in a pending batch.

    Examples
    --------
    >>> str(ItemAlreadyQueuedError("item 'a' is already queued in Label Studio (1 such)"))
    "item 'a' is already queued in Label Studio (1 such)"
    """


def redact_uri(uri: str) -> str:
    """Return ``uri`` without the credentials or query string it may carry.

    Examples
    --------
    >>> redact_uri("https://alice:s3cret@mlflow.example.org/?token=x")
    'https://***@mlflow.example.org/'
    >>> redact_uri("sqlite:///work/mlflow.db")
    'sqlite:///work/mlflow.db'
    """
    without_query = uri.split("?", 1)[0]
    return re.sub(r"//[^/@\s]*@", "//***@", without_query)

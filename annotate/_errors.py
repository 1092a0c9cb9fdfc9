"""Errors of the annotate package."""

from __future__ import annotations

__all__ = ["ConfigError", "LabelloopError"]


class LabelloopError(Exception):
    """Base class of errors the CLI reports as one line and a non-zero exit."""


class ConfigError(LabelloopError, ValueError):
    """A project config is missing, unparseable, or has an invalid field."""

"""The ``labelloop`` command line: one module per group of commands."""

from labelloop.annotate.cli.main import main

__all__ = ["main"]

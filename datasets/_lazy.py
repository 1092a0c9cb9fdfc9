"""Package namespaces that load their names on first use (PEP 562 ``__getattr__``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, homes: Mapping[str, str], on_first_use: Callable[[], object] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``__getattr__`` and ``__dir__`` for a package whose names live in ``homes``.

    ``homes`` maps each public name to the module that defines it. A name is imported
    the first time it is asked for, then kept in the package's namespace.
    ``on_first_use`` runs once, before the first name is loaded.

    Examples
    --------
    >>> getattr_, _ = lazy_names("labelloop.datasets", {"Pool": "labelloop.datasets._pool"})
    >>> getattr_("Pool").__name__
    'Pool'
    """
    pending = [on_first_use] if on_first_use is not None else []

    def load(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        while pending:
            pending.pop()()
        value = getattr(importlib.import_module(homes[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return load, names

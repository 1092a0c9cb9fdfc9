"""The work dir: where Label Studio's data, the state store and MLflow's store live."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["resolve_workdir"]


def resolve_workdir(value: str | Path | None = None) -> Path:
    """Return the work dir: ``value``, else ``$LABELLOOP_WORKDIR``, else ``./work``.

    The folder is created if missing.
    """
    chosen = Path(value) if value else Path(os.environ.get("LABELLOOP_WORKDIR", "work"))
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen.resolve()

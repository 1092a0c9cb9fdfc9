"""Compatibility shim: modAL 0.4.2.1 on scikit-learn >= 1.8.

modAL calls ``sklearn.utils.check_X_y(..., force_all_finite=...)``; scikit-learn 1.8
renamed that argument ``ensure_all_finite`` and removed the old name, so
``ActiveLearner.teach()`` and ``Committee.teach()`` raise ``TypeError``. The shim gives
modAL's modules a ``check_X_y`` that maps the old name to the new one. It is applied
once, on first use of :mod:`labelloop.learners`, and touches nothing outside modAL.
"""

from __future__ import annotations

import inspect
from typing import Any

import sklearn.utils
from modAL.models import base as modal_base
from modAL.models import learners as modal_learners

__all__ = ["apply_modal_shim", "modal_needs_shim"]


def modal_needs_shim() -> bool:
    """Return True when scikit-learn's ``check_X_y`` no longer takes ``force_all_finite``."""
    return "force_all_finite" not in inspect.signature(sklearn.utils.check_X_y).parameters


def _check_x_y(*args: Any, **kwargs: Any) -> Any:
    if "force_all_finite" in kwargs:
        kwargs["ensure_all_finite"] = kwargs.pop("force_all_finite")
    return sklearn.utils.check_X_y(*args, **kwargs)


def apply_modal_shim() -> bool:
    """Patch modAL's learner modules when scikit-learn needs it; idempotent.

    Returns
    -------
    bool
        Whether the shim is in place after the call.
    """
    if not modal_needs_shim():
        return False
    for module in (modal_learners, modal_base):
        if hasattr(module, "check_X_y"):
            module.check_X_y = _check_x_y
    return True

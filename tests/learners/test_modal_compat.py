"""The modAL shim: modAL's teach() crashes on this scikit-learn without it, works with it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from modAL.models import ActiveLearner
from sklearn.linear_model import LogisticRegression

from labelloop.learners import apply_modal_shim, modal_needs_shim


def test_modal_teach_fails_without_the_shim_on_this_scikit_learn() -> None:
    code = (
        "import numpy as np\n"
        "from modAL.models import ActiveLearner\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X = np.arange(8.0).reshape(4, 2); y = [0, 0, 1, 1]\n"
        "learner = ActiveLearner(LogisticRegression(), X_training=X, y_training=y)\n"
        "learner.teach(X[:1], [0])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if modal_needs_shim():
        assert result.returncode != 0
        assert "force_all_finite" in result.stderr
    else:
        assert result.returncode == 0


def test_teach_works_with_the_shim() -> None:
    apply_modal_shim()
    X = np.arange(8.0).reshape(4, 2)
    learner = ActiveLearner(LogisticRegression(), X_training=X, y_training=[0, 0, 1, 1])
    learner.teach(X[:1], [0])
    assert learner.X_training.shape == (5, 2)


def test_shim_is_idempotent() -> None:
    assert apply_modal_shim() == apply_modal_shim()

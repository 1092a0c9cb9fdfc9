"""Every docstring example in the installed packages runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import labelloop.annotate
import labelloop.datasets
import labelloop.learners


def _modules() -> list[str]:
    names = []
    for package in (labelloop.datasets, labelloop.learners, labelloop.annotate):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            # Importing these runs them: the command line; the model MLflow loads from code.
            if not info.name.endswith((".__main__", ".served_model")):
                names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_the_modules_that_hold_examples() -> None:
    assert "labelloop.datasets._pool" in MODULES
    assert "labelloop.learners._routing" in MODULES
    assert "labelloop.annotate.labelstudio.translate" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=dict(vars(module))):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"

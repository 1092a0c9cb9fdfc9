"""The installed distribution: our packages, our entry point, no Hugging Face `datasets`."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_datasets_is_ours() -> None:
    import datasets

    assert getattr(datasets, "__labelloop__", False) is True
    assert Path(datasets.__file__).resolve().parent == ROOT / "datasets"


def test_hugging_face_datasets_is_not_installed() -> None:
    with pytest.raises(md.PackageNotFoundError):
        md.distribution("datasets")


def test_distribution_lists_the_three_packages_and_the_script() -> None:
    dist = md.distribution("labelloop")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"labelloop": "annotate.cli:main"}
    requires = " ".join(dist.requires or [])
    for pinned in ("mlflow==3.17.2", "modAL-python==0.4.2.1", "label-studio-sdk==2.1.2"):
        assert pinned in requires


@pytest.mark.parametrize("package", ["annotate", "learners", "datasets"])
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), f"{package}.__all__ names missing {name}"


def test_datasets_and_learners_do_not_import_annotate() -> None:
    code = "import datasets, learners, sys; print('annotate' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_console_script_runs() -> None:
    exe = shutil.which("labelloop", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "simulate" in out.stdout and "init" in out.stdout


def test_make_demo_names_only_known_strategies_and_configs() -> None:
    import re

    from learners import STRATEGIES

    makefile = (ROOT / "Makefile").read_text()
    demo = makefile[makefile.index("\nsimulate:") : makefile.index("\ntest:")]
    strategies = re.search(r"--strategies (\S+)", demo)
    config = re.search(r"--config (\S+)", demo)
    assert strategies is not None and config is not None
    assert set(strategies.group(1).split(",")) <= set(STRATEGIES)
    assert (ROOT / config.group(1)).is_file()

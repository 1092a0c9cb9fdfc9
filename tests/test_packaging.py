"""The installed distribution: one `labelloop` namespace, our entry point, room for others."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("annotate", "learners", "datasets")


def test_the_folders_install_under_the_labelloop_namespace() -> None:
    import labelloop.datasets

    assert getattr(labelloop.datasets, "__labelloop__", False) is True
    assert Path(labelloop.datasets.__file__).resolve().parent == ROOT / "datasets"
    assert not {"annotate", "learners", "datasets"} & set(sys.modules), (
        "a folder loaded by its bare name"
    )


def test_every_subpackage_is_listed_for_installation() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(["labelloop", *init.parent.relative_to(ROOT).parts])
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert on_disk == listed


def test_hugging_face_datasets_is_not_installed_here() -> None:
    with pytest.raises(md.PackageNotFoundError):
        md.distribution("datasets")


def test_distribution_names_the_script_and_pins() -> None:
    dist = md.distribution("labelloop")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"labelloop": "labelloop.annotate.cli:main"}
    requires = " ".join(dist.requires or [])
    for pinned in ("mlflow==3.17.2", "modAL-python==0.4.2.1", "label-studio-sdk==2.1.2"):
        assert pinned in requires


@pytest.mark.parametrize("package", [f"labelloop.{f}" for f in FOLDERS])
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.__all__ names missing {name}"


def test_datasets_and_learners_do_not_import_annotate() -> None:
    code = (
        "import sys, labelloop.datasets as d, labelloop.learners as l; "
        "d.load_demo_pool; l.margin_scores; "
        "print(any(m.startswith('labelloop.annotate') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_console_script_runs() -> None:
    exe = shutil.which("labelloop", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "simulate" in out.stdout and "init" in out.stdout


def test_make_demo_names_only_known_strategies_and_configs() -> None:
    import re

    from labelloop.learners import STRATEGIES

    makefile = (ROOT / "Makefile").read_text()
    demo = makefile[makefile.index("\nsimulate:") : makefile.index("\ntest:")]
    strategies = re.search(r"--strategies (\S+)", demo)
    config = re.search(r"--config (\S+)", demo)
    assert strategies is not None and config is not None
    assert set(strategies.group(1).split(",")) <= set(STRATEGIES)
    assert (ROOT / config.group(1)).is_file()


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.skip("uv is not installed (make setup installs it)")
    return found


@pytest.mark.slow
def test_labelloop_and_hugging_face_datasets_share_one_environment(tmp_path: Path) -> None:
    """Install labelloop (not editable) and Hugging Face `datasets` together; use both."""
    uv = _uv()
    env = {**os.environ, "UV_NO_PROGRESS": "1", "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    pins = tmp_path / "pins.txt"
    subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-o", str(pins)],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env, check=True
    )
    install = [uv, "pip", "install", "--quiet", "--python", str(python), "-c", str(pins)]
    # Build from a copy: an in-tree build would leave build/ in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run([*install, str(source), "datasets==5.2.0"], env=env, check=True, timeout=600)
    code = """
import datasets, labelloop.datasets, labelloop.learners
hf = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
assert hf.num_rows == 2 and hf.features["label"].dtype == "int64"
pool = labelloop.datasets.load_demo_pool("wine")
assert len(pool) == 178
assert labelloop.learners.get_strategy("margin").name == "margin"
print(datasets.__file__)
print(labelloop.datasets.__file__)
"""
    out = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    hf_file, ours_file = out.stdout.split()
    assert Path(hf_file).parent.name == "datasets"
    assert Path(ours_file).parent.parts[-2:] == ("labelloop", "datasets")
    help_out = subprocess.run(
        [str(venv / "bin" / "labelloop"), "--help"], capture_output=True, text=True, env=env
    )
    assert help_out.returncode == 0 and "simulate" in help_out.stdout

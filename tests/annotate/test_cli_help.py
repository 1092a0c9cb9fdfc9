"""Every command's help, as a person reads it; and what `--help` and `simulate` load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from labelloop.annotate.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += _paths(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


PATHS = _paths(main)


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def test_every_command_is_reached() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"simulate", "server start", "push", "cycle", "export", "report"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "labelloop")
def test_help_shows_examples_as_written(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "\\b" not in result.output and "\b" not in result.output
    shown = [line.rstrip() for line in result.output.splitlines()]
    doc = _command(path).help or ""
    if "Example" not in doc:
        return
    block = doc[doc.index("Example") :].splitlines()[1:]
    examples = [line for line in block if line.strip()]
    assert examples, f"{' '.join(path)}: an Example heading with nothing under it"
    for line in examples:
        # Each example line keeps its own line and its indentation relative to the block.
        assert any(s.endswith(line.rstrip().lstrip()) for s in shown), (path, line)
    lead = [s for s in shown if s.strip().startswith("labelloop ")]
    assert len(lead) == sum(1 for e in examples if e.strip().startswith("labelloop "))


HEAVY = ("sklearn", "mlflow", "matplotlib", "label_studio_sdk", "pandas", "modAL", "scipy")


def test_help_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from labelloop.annotate.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


BLOCK = "import sys\nfor name in ('label_studio_sdk', 'mlflow'):\n    sys.modules[name] = None\n"


@pytest.mark.parametrize("extra", [[], ["--routing"]], ids=["curves", "routing"])
def test_simulate_runs_without_the_label_studio_sdk_or_mlflow(
    tmp_path: Path, extra: list[str]
) -> None:
    args = ["simulate", "--config", "configs/wine.yaml", "--out", str(tmp_path), "--seeds", "1"]
    args += ["--budget", "30", "--strategies", "margin", *extra]
    code = BLOCK + f"from labelloop.annotate.cli import main\nmain({args!r})\n"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wrote = "routing.json" if extra else "summary.json"
    assert (tmp_path / wrote).is_file()

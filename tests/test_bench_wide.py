"""The wide benchmark's command: a table, JSON, Markdown and a plot a person can read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.wide import _paired_interval, _ratio_interval, _verdict

ROOT = Path(__file__).parents[1]


def wide(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "wide", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_paired_interval_straddles_zero_only_for_a_noisy_gap() -> None:
    clear = _paired_interval([0.02, 0.03, 0.025, 0.028, 0.022])
    noisy = _paired_interval([0.05, -0.04, 0.03, -0.05, 0.01])
    assert clear[1] > 0 and clear[0] == pytest.approx(0.025)
    assert noisy[1] < 0 < noisy[2]


def test_ratio_counts_a_seed_that_never_reached_the_target_as_the_cap() -> None:
    ratio, low, high = _ratio_interval([50, 60, 70], [100, None, 120], cap=150)
    assert ratio == pytest.approx(60 / np.mean([100, 150, 120]))
    assert ratio is not None and low is not None and high is not None
    assert low <= ratio <= high < 1


def test_more_labels_to_95_percent_beyond_the_interval_is_worse_even_with_equal_areas() -> None:
    tie_area = (-0.01, 0.01)
    assert _verdict(tie_area, [(1.6, 1.2, 2.0), (1.0, 0.8, 1.2)]) == "WORSE"
    assert _verdict(tie_area, [(0.9, 0.7, 1.1), (0.5, 0.4, 0.7)]) == "better"
    assert _verdict(tie_area, [(None, None, None), (1.0, 0.8, 1.2)]) == "tie"
    # Better on one measure does not outweigh worse on another.
    assert _verdict((0.01, 0.03), [(1.5, 1.1, 1.9)]) == "WORSE"


@pytest.mark.slow
def test_the_command_writes_a_table_json_markdown_and_a_plot(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    done = wide("--pools", "wine,iris", "--seeds", "3", "--jobs", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Wide benchmark" in done.stdout and "wine" in done.stdout
    assert "(macro-F1: " in done.stdout and "worse); tune:" in done.stdout
    assert "report:" in done.stdout
    result = json.loads(out.with_suffix(".json").read_text())
    rows = {r["pool"]: r for r in result["rows"]}
    assert set(rows) == {"wine", "iris"}
    for row in rows.values():
        assert row["strategy"] == "margin" and row["seeds"] == 3
        assert row["aulc_gap_low"] <= row["aulc_gap"] <= row["aulc_gap_high"]
        assert row["verdict"] in {"better", "tie", "WORSE"}
        assert row["f1_verdict"] in {"better", "tie", "WORSE"}
        assert 0.5 < row["full_accuracy"] <= 1
    curves = result["curves"]["wine"]
    assert {c["strategy"] for c in curves} == {"margin", "random"} and len(curves) == 6
    markdown = out.with_suffix(".md").read_text()
    assert markdown.count("\n| wine |") == 1 and markdown.count("\n| iris |") == 1
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_an_unknown_pool_is_named_in_one_line(tmp_path: Path) -> None:
    done = wide("--pools", "wine,nope", "--out", str(tmp_path / "x"), timeout=120)
    assert done.returncode == 2
    assert "unknown pool(s): nope" in done.stderr

"""`labelloop simulate` end to end on bundled data: files, table, reproducibility, the headline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from labelloop.annotate.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def simulate(out: Path, config: str, *args: str) -> str:
    result = CliRunner().invoke(
        main, ["simulate", "--config", str(ROOT / "configs" / config), "--out", str(out), *args]
    )
    assert result.exit_code == 0, result.stderr or result.output
    return result.stdout


def test_wine_writes_curves_summary_and_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "cache"))
    stdout = simulate(
        tmp_path / "out",
        "wine.yaml",
        "--strategies",
        "margin,random,qbc_vote_entropy",
        "--seeds",
        "2",
        "--budget",
        "40",
    )
    for name in ("margin", "random", "qbc_vote_entropy", "AULC", "labels to 99%"):
        assert name in stdout
    curves = json.loads((tmp_path / "out" / "curves.json").read_text())
    assert {tuple(sorted(r)) for r in curves} == {
        ("accuracy", "explored", "log_loss", "macro_f1", "n_labels", "seed", "step", "strategy")
    }
    assert {(r["strategy"], r["seed"]) for r in curves} == {
        (s, seed) for s in ("margin", "random", "qbc_vote_entropy") for seed in (0, 1)
    }
    assert max(r["n_labels"] for r in curves) == 40
    first_steps = [r for r in curves if r["step"] == 0]
    assert all(r["n_labels"] == 6 for r in first_steps)  # initial_size in configs/wine.yaml
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    row = summary["strategies"]["margin"]
    for key in ("aulc", "labels_to_95", "labels_to_99", "full_pool_accuracy"):
        assert set(row[key]) == {"mean", "std", "n", "of"}
    assert row["full_pool_accuracy"]["of"] == 2
    assert 0.8 < row["full_pool_accuracy"]["mean"] <= 1.0
    # Against random on the same seeds, with a 95% interval; random has no such row.
    gap = row["aulc_vs_random"]
    assert gap["n"] == 2 and gap["low"] <= gap["mean"] <= gap["high"]
    assert gap["mean"] == pytest.approx(
        row["aulc"]["mean"] - summary["strategies"]["random"]["aulc"]["mean"]
    )
    assert "aulc_vs_random" not in summary["strategies"]["random"]
    assert "AULC vs random" in stdout
    png = (tmp_path / "out" / "curves.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000


def test_a_share_of_exploration_is_said_and_changes_the_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "cache"))
    args = ("--strategies", "margin,random", "--seeds", "2", "--budget", "60")
    alone = simulate(tmp_path / "a", "wine.yaml", *args)
    mixed = simulate(tmp_path / "b", "wine.yaml", *args, "--exploration", "0.3")
    assert "drawn at random" not in alone  # configs/wine.yaml has none
    assert "margin: 30% of each batch drawn at random once a model exists" in mixed
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["meta"]["exploration"] == 0.3
    # Batches of 5 at 0.3: 1 or 2 at random, 1.5 on average; none for random itself.
    assert summary["strategies"]["margin"]["explored"] == pytest.approx(0.3, abs=0.1)
    assert summary["strategies"]["random"]["explored"] == 0.0
    points = json.loads((tmp_path / "b" / "curves.json").read_text())
    assert sum(p["explored"] for p in points if p["strategy"] == "margin") > 0
    assert all(p["explored"] == 0 for p in points if p["strategy"] == "random")
    report = CliRunner().invoke(main, ["report", "--simulation", str(tmp_path / "b")])
    assert report.exit_code == 0, report.output
    page = (tmp_path / "b" / "report.html").read_text()
    assert ", exploration 0.3 (margin: " in page and "of the picks after the first model" in page

    def curve(folder: str, strategy: str) -> list[float]:
        rows = json.loads((tmp_path / folder / "curves.json").read_text())
        return [r["accuracy"] for r in rows if r["strategy"] == strategy]

    assert curve("a", "random") == curve("b", "random")  # the baseline is untouched
    assert curve("a", "margin")[0] == curve("b", "margin")[0]  # so is the cold start
    assert curve("a", "margin") != curve("b", "margin")


def test_auto_exploration_is_said_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "cache"))
    args = ("--strategies", "margin,random", "--seeds", "1", "--budget", "40")
    out = simulate(tmp_path / "a", "wine.yaml", *args, "--exploration", "auto")
    assert "margin: part of each batch drawn at random once a model exists, twice as" in out
    assert "(exploration: auto); drawn at random after the first model: margin " in out
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["meta"]["exploration"] == "auto"
    drawn = summary["strategies"]["margin"]["explored"]
    assert 0.0 <= drawn <= 0.5 and f"margin {drawn:.0%};" in out


def test_same_seed_gives_the_same_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "cache"))
    args = ("--strategies", "diverse_margin,kmeans,random", "--seeds", "2", "--budget", "30")
    simulate(tmp_path / "a", "wine.yaml", *args)
    simulate(tmp_path / "b", "wine.yaml", *args)
    assert (tmp_path / "a" / "curves.json").read_text() == (
        tmp_path / "b" / "curves.json"
    ).read_text()


@pytest.mark.bench  # five seeds over the whole pool: minutes; `make bench` runs it
def test_digits_margin_reaches_99_percent_with_half_the_labels_of_random(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The headline: logistic regression on digits, batch 10, 5 seeds, whole pool."""
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "cache"))
    simulate(tmp_path / "d", "digits.yaml", "--strategies", "margin,random", "--seeds", "5")
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())["strategies"]
    margin, random = summary["margin"]["labels_to_99"], summary["random"]["labels_to_99"]
    assert margin["n"] == 5 and random["n"] == 5
    assert margin["mean"] <= 0.5 * random["mean"]


def test_report_of_a_simulation_is_self_contained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "cache"))
    simulate(
        tmp_path / "out",
        "wine.yaml",
        "--strategies",
        "margin,random",
        "--seeds",
        "2",
        "--budget",
        "30",
    )
    result = CliRunner().invoke(main, ["report", "--simulation", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "out" / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert "labels to 99%" in page and "margin" in page and "random" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened
    missing = CliRunner().invoke(main, ["report", "--simulation", str(tmp_path)])
    assert missing.exit_code == 1 and "no summary.json or routing.json here" in missing.stderr


def test_routing_simulation_measures_machine_labels_against_gold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wine at a bar it can prove (0.8 at 90%: 11 evaluation labels per class), with one
    class kept for people: the table reports the machine labels and their real precision."""
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "cache"))
    config = tmp_path / "wine.yaml"
    config.write_text(
        "name: wine-routing\ndata: {source: 'bundled:wine'}\nfeaturizer: {kind: numeric}\n"
        "batch_size: 5\ninitial_size: 6\nbudget: 40\nevaluation: {size: 0.4}\n"
        "routing: {target_precision: 0.8, confidence: 0.9, always_human_classes: [class_2],"
        " audit: {rate: 0.1}}\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["simulate", "--config", str(config), "--out", str(out), "--routing", "--seeds", "2"],
    )
    assert result.exit_code == 0, result.stderr or result.output
    for text in ("machine precision", "labels saved", "margin (mean)", "random (mean)"):
        assert text in result.stdout
    data = json.loads((out / "routing.json").read_text())
    assert data["exploration"] == 0.0  # the setting the batches were picked under
    assert (out / "routing.png").read_bytes().startswith(PNG_MAGIC)
    rows = data["rows"]
    assert len(rows) == 4  # margin and random, two seeds each
    assert any(r["machine_labels"] > 0 for r in rows)
    for row in rows:
        people = row["evaluation_labels"] + row["strategy_labels"] + row["audit_labels"]
        assert people + row["left_for_people"] + row["machine_labels"] == row["n_items"]
        assert row["strategy_labels"] <= 40
        assert "class_2" not in row["per_class_precision"]  # kept for people: never machine
        assert row["human_labels_saved"] == pytest.approx(row["machine_labels"] / 178)
        if row["machine_labels"]:
            assert row["meets_target"] == (row["worst_class_precision"] >= 0.8)
    report = CliRunner().invoke(main, ["report", "--simulation", str(out)])
    assert report.exit_code == 0, report.stderr
    assert "Human in the loop" in (out / "report.html").read_text()

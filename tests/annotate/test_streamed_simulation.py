"""`labelloop simulate --stream`: a partitioned pool streamed at every step, as `cycle` does."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from sklearn.datasets import load_digits

from labelloop.annotate.cli.main import main
from tests.helpers import write_topic_parquet


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Digits in 3 Parquet files (row groups of 200), and the config init writes."""
    root = tmp_path_factory.mktemp("digits")
    frame = load_digits(as_frame=True).frame.rename(columns={"target": "label"})
    frame["label"] = [f"digit {v}" for v in frame["label"]]
    frame.insert(0, "item_id", [f"d{k:04d}" for k in range(len(frame))])
    (root / "pool").mkdir()
    for number, start in enumerate(range(0, len(frame), 600)):
        table = pa.Table.from_pandas(frame.iloc[start : start + 600], preserve_index=False)
        pq.write_table(table, root / "pool" / f"part-{number}.parquet", row_group_size=200)
    code, _, err = run(
        "init",
        "digits",
        "--data",
        str(root / "pool"),
        "--label-column",
        "label",
        "--configs-dir",
        str(root),
    )
    assert code == 0, err
    return root / "digits.yaml"


def _summary(config: Path, out: Path, *extra: str) -> dict[str, dict[str, dict[str, float]]]:
    code, _, err = run(
        "simulate",
        "--config",
        str(config),
        "--strategies",
        "margin,random",
        "--seeds",
        "4",
        "--budget",
        "120",
        "--out",
        str(out),
        *extra,
    )
    assert code == 0, err
    summary: dict[str, dict[str, dict[str, float]]] = json.loads(
        (out / "summary.json").read_text()
    )["strategies"]
    return summary


def test_streamed_simulation_learns_as_the_in_memory_one(digits: Path, tmp_path: Path) -> None:
    whole = _summary(digits, tmp_path / "whole")
    streamed = _summary(digits, tmp_path / "streamed", "--stream")
    # The same ceiling: under 20,000 rows, the sample it is trained on is every row.
    assert streamed["margin"]["full_pool_accuracy"]["mean"] == pytest.approx(
        whole["margin"]["full_pool_accuracy"]["mean"], abs=1e-9
    )
    assert json.loads((tmp_path / "streamed" / "summary.json").read_text())["meta"][
        "full_pool_macro_f1_by_seed"
    ] == pytest.approx(
        json.loads((tmp_path / "whole" / "summary.json").read_text())["meta"][
            "full_pool_macro_f1_by_seed"
        ],
        abs=1e-9,
    )
    # Same features, the same strategy picks for the same model: the curves differ only
    # by the cold start's draw and the random share's, so their areas agree within a
    # point or two.
    for name in ("margin", "random"):
        assert streamed[name]["aulc"]["mean"] == pytest.approx(
            whole[name]["aulc"]["mean"], abs=0.02
        )
    # And margin beats random while streaming, as it does on digits in memory.
    assert streamed["margin"]["aulc"]["mean"] > streamed["random"]["aulc"]["mean"]


def test_a_missing_gold_label_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "pool"
    folder.mkdir()
    frame = load_digits(as_frame=True).frame.rename(columns={"target": "label"}).head(300)
    frame["label"] = [f"digit {v}" for v in frame["label"]]
    frame.insert(0, "item_id", [f"d{k:04d}" for k in range(len(frame))])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "a.parquet")
    assert (
        run(
            "init",
            "d",
            "--data",
            str(folder),
            "--label-column",
            "label",
            "--configs-dir",
            str(tmp_path),
        )[0]
        == 0
    )
    frame["label"] = frame["label"].astype(object)
    frame.loc[frame.index % 7 == 0, "label"] = None
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "a.parquet")
    code, _, err = run(
        "simulate",
        "--config",
        str(tmp_path / "d.yaml"),
        "--stream",
        "--out",
        str(tmp_path / "s"),
    )
    assert code == 1
    assert "a.parquet: simulation needs a gold label for every item; item 'd0000'" in err, err
    assert "has none in column 'label'" in err
    assert len(err.strip().splitlines()) == 1


def test_stream_on_a_csv_pool_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "wine.csv"
    frame = load_digits(as_frame=True).frame.head(100)
    frame.to_csv(data, index_label="id")
    assert (
        run(
            "init",
            "w",
            "--data",
            str(data),
            "--label-column",
            "target",
            "--configs-dir",
            str(tmp_path),
        )[0]
        == 0
    )
    code, _, err = run(
        "simulate", "--config", str(tmp_path / "w.yaml"), "--stream", "--out", str(tmp_path / "s")
    )
    assert code == 1
    assert "--stream: wine.csv is not a directory or glob of Parquet files" in err, err


def test_an_evaluation_set_past_what_streaming_holds_is_refused(
    digits: Path, tmp_path: Path
) -> None:
    code, _, err = run(
        "simulate",
        "--config",
        str(digits),
        "--stream",
        "--eval-size",
        "20000",
        "--out",
        str(tmp_path / "s"),
    )
    assert code == 1
    assert err.strip() == (
        "error: evaluation.size: 20000 is 20,000 of 1,797 items; give a count of at most "
        "10,000 for a partitioned pool (it is held in memory)"
    ), err
    assert not (tmp_path / "s").exists()


def test_a_text_pool_streams_on_hashed_features_and_on_cached_embeddings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_topic_parquet(tmp_path / "news", 120, files=3, row_group_size=20)
    code, _, err = run(
        "init", "news", "--data", str(folder), "--label-column", "label", "--id-column", "doc",
        "--configs-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    config = tmp_path / "news.yaml"
    args = ["--strategies", "margin,random", "--seeds", "1", "--budget", "40", "--stream"]
    code, _, err = run("simulate", "--config", str(config), *args, "--out", str(tmp_path / "h"))
    assert code == 0, err
    hashed = json.loads((tmp_path / "h" / "summary.json").read_text())["strategies"]
    # Two topics told apart by their words: hashed features learn them.
    assert hashed["margin"]["final_accuracy"]["mean"] >= 0.9

    cache = tmp_path / "cache"
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(cache))
    settings = yaml.safe_load(config.read_text())
    settings["featurizer"] = {"kind": "embeddings"}
    config.write_text(yaml.safe_dump(settings))
    code, _, err = run("simulate", "--config", str(config), *args, "--out", str(tmp_path / "e"))
    assert code == 0, err
    assert len(list((cache / "partitions").rglob("*.npy"))) == 6  # one per row group
    embedded = json.loads((tmp_path / "e" / "summary.json").read_text())["strategies"]
    assert embedded["margin"]["final_accuracy"]["mean"] >= 0.9

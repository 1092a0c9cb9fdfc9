"""A directory (or glob) of Parquet files as a project's pool: init, then simulate."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from sklearn.datasets import load_wine

from labelloop.annotate.cli.main import main
from labelloop.annotate.config import writer
from labelloop.annotate.labelstudio.server import Credentials
from labelloop.annotate.loop.tracking import Tracker
from labelloop.annotate.state.store import StateStore
from labelloop.datasets import DataFileError, ParquetPool, read_table
from tests.helpers import api, label_tasks, last_batch_guesses, write_topic_parquet


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def init(name: str, data: Path, configs: Path) -> tuple[int, str, str]:
    """``labelloop init NAME --data DATA --label-column label --configs-dir CONFIGS``."""
    return run(
        "init", name, "--data", str(data), "--label-column", "label", "--configs-dir", str(configs)
    )


def _wine_parquet(folder: Path, cuts: tuple[int, ...] = (60, 120)) -> Path:
    wine = load_wine(as_frame=True)
    frame = wine.frame.rename(columns={"target": "label"})
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    frame.insert(0, "item_id", [f"w{i:03d}" for i in range(len(frame))])
    frame["label"] = frame["label"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    folder.mkdir(parents=True)
    bounds = [0, *cuts, len(frame)]
    for number in range(len(bounds) - 1):
        part = frame.iloc[bounds[number] : bounds[number + 1]]
        table = pa.Table.from_pandas(part, preserve_index=False)
        pq.write_table(table, folder / f"part-{number}.parquet", row_group_size=25)
    return folder


def test_init_and_simulate_on_a_directory_of_parquet_files(tmp_path: Path) -> None:
    pool = _wine_parquet(tmp_path / "wine")
    configs = tmp_path / "configs"
    code, out, err = init("wine", pool, configs)
    assert code == 0, err
    assert "178 items, 13 feature columns, 3 classes" in out
    written = yaml.safe_load((configs / "wine.yaml").read_text())
    assert written["data"]["source"] == "../wine"
    assert written["data"]["id_column"] == "item_id"
    assert written["budget"] == 178

    out_dir = tmp_path / "sim"
    code, out, err = run(
        "simulate",
        "--config",
        str(configs / "wine.yaml"),
        "--strategies",
        "margin,random",
        "--seeds",
        "1",
        "--budget",
        "40",
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    assert "margin" in out and "random" in out
    assert any(out_dir.iterdir())


def test_init_reads_a_sample_of_a_big_partitioned_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "SAMPLE_ROWS", 30)
    _wine_parquet(tmp_path / "wine")
    code, out, err = init("wine", tmp_path / "wine" / "*.parquet", tmp_path)
    assert code == 0, err
    assert "178 items (columns read from 30 sampled rows)" in out
    assert (
        yaml.safe_load((tmp_path / "wine.yaml").read_text())["data"]["source"] == "wine/*.parquet"
    )
    assert read_table(tmp_path / "wine" / "*.parquet").shape[0] == 178
    # The sample (the first 10 rows of each file, sorted by class) holds 2 classes; the
    # label column, read whole, holds 3.
    assert "3 classes (barbera, barolo, grignolino)" in out


def test_a_file_that_lacks_a_column_is_named(tmp_path: Path) -> None:
    pool = _wine_parquet(tmp_path / "wine")
    last = pq.read_table(pool / "part-2.parquet").drop(["alcohol"])
    pq.write_table(last, pool / "part-2.parquet")
    code, _, err = init("wine", pool, tmp_path)
    assert code == 1
    assert err.strip().endswith("part-2.parquet: no column 'alcohol' (the other files have it)")
    assert not (tmp_path / "wine.yaml").exists()
    with pytest.raises(DataFileError, match=r"part-2\.parquet: no column 'alcohol'"):
        read_table(pool)


def test_a_directory_without_parquet_files_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = init("x", tmp_path / "empty", tmp_path)
    assert code == 1 and "empty: holds no .parquet file" in err


def test_a_partitioned_pool_needs_an_id_column(tmp_path: Path) -> None:
    pool = _wine_parquet(tmp_path / "wine")
    for path in pool.iterdir():
        pq.write_table(pq.read_table(path).drop(["item_id"]), path)
    code, _, err = init("wine", pool, tmp_path)
    assert code == 1 and "name the id column (--id-column) of a partitioned pool" in err


@pytest.mark.integration
def test_cycles_on_a_parquet_directory_stream_it_and_follow_its_files(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    pool = _wine_parquet(tmp_path / "wine")
    code, _, err = init("wines", pool, tmp_path)
    assert code == 0, err
    config = tmp_path / "wines.yaml"
    written = yaml.safe_load(config.read_text())
    # Classes from the pass over the label column; an evaluation set of 20% (at most 1,000).
    assert written["labelling"]["labels"] == ["barbera", "barolo", "grignolino"]
    assert written["evaluation"]["size"] == 35
    assert written["strategy"] == "margin" and written["exploration"] == "auto"
    # A stop set smaller than the pool: picks come from outside the working set.
    written["stopping"]["stop_set_size"] = 10
    written["exploration"] = 0.2  # a fixed share: two of each ten picks at random
    config.write_text(yaml.safe_dump(written))
    env = {"LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    state_file = workdir / "projects" / "wines" / "state.sqlite"
    truth = read_table(pool).set_index("item_id")["label"].to_dict()

    def cycle() -> Any:
        return CliRunner().invoke(
            main, ["cycle", "--config", str(config), "--workdir", str(workdir)], env=env
        )

    def count(sql: str) -> int:
        db = sqlite3.connect(state_file)
        try:
            return int(db.execute(sql).fetchone()[0])
        finally:
            db.close()

    first = cycle()
    assert first.exit_code == 0, first.output
    project_id = int(
        sqlite3.connect(state_file)
        .execute("SELECT value FROM meta WHERE key = 'project_id'")
        .fetchone()[0]
    )
    tasks = list(api(credentials).tasks.list(project=project_id, fields="all"))
    assert len(tasks) == 20  # the cold-start batch and the first evaluation items
    assert all(str(t.data["item_id"]).startswith("w") for t in tasks)
    # Digests are kept for the items people met (the 20 pushed), not for every item.
    assert count("SELECT COUNT(*) FROM fingerprints") == 20

    # People label every task; the next cycle trains, streams the pool and picks.
    state = StateStore(state_file)
    try:
        labelled = label_tasks(SimpleNamespace(state=state), credentials, lambda i, _: truth[i])
    finally:
        state.close()
    assert labelled == 20
    second = cycle()
    assert second.exit_code == 0, second.output
    assert "10 labels" in second.stdout, second.stdout
    batches = sqlite3.connect(state_file).execute(
        "SELECT strategy, model_version FROM batches ORDER BY rowid"
    )
    strategies = [(s, v) for s, v in batches]
    assert strategies[-1][0] == "margin" and strategies[-1][1] is not None, strategies
    # Of the ten picks, margin ranked eight over the streamed pool; two were drawn at
    # random from it (the share of exploration) and carry no acquisition score.
    picks = sqlite3.connect(state_file).execute(
        "SELECT score FROM batch_items WHERE route IS NOT 'evaluation' AND batch_id = "
        "(SELECT batch_id FROM batches ORDER BY rowid DESC LIMIT 1)"
    )
    scores = [score for (score,) in picks]
    assert len(scores) == 10 and sum(score is None for score in scores) == 2, scores
    assert len(list(api(credentials).tasks.list(project=project_id))) == 40
    # The registered model scores raw rows as the streaming scorer does: standardized by
    # the whole pool's moments, not by the few rows the project holds.
    tracker = Tracker(workdir, "wines")
    served = tracker.load_model(f"models:/{tracker.model_name}@champion")
    whole = read_table(pool).set_index("item_id")
    inputs = list(served.unwrap_python_model().inputs)
    scored = served.predict(whole[inputs])
    guessed = scored.columns.to_numpy()[scored.to_numpy().argmax(axis=1)]
    streamed = ParquetPool.open(
        pool, id_column="item_id", feature_columns=written["data"]["feature_columns"]
    ).feature_moments()
    classifier = served.unwrap_python_model().pipeline[-1]
    X = np.vstack([streamed.load(p)[1] for p in streamed.partitions])
    assert (classifier.classes_[classifier.predict_proba(X).argmax(axis=1)] == guessed).all()

    # The other commands work on the working set too: a batch pushed by hand (streamed),
    # the status, the labels exported, the report.
    w = ("--config", str(config), "--workdir", str(workdir))
    code, out, err = run("push", *w, "--n", "5")
    assert code == 0, err
    assert len(list(api(credentials).tasks.list(project=project_id))) == 45
    code, out, err = run("status", *w)
    assert code == 0 and "20" in out, err
    code, out, err = run("export", *w, "--out", str(tmp_path / "labels.csv"))
    assert code == 0, err
    exported = read_table(tmp_path / "labels.csv")
    assert len(exported) == 20
    assert (exported["label"].astype(str) == exported["item_id"].map(truth)).all()
    code, out, err = run("report", *w, "--out", str(tmp_path / "report.html"))
    assert code == 0, err
    assert (tmp_path / "report.html").stat().st_size > 10_000

    # A new partition lands in the directory: its items join the pool. A row nobody was
    # shown may change; one that was labelled is refused in one line, nothing written.
    extra = pq.read_table(pool / "part-0.parquet").slice(0, 5)
    extra = extra.set_column(0, "item_id", pa.array([f"new-{i}" for i in range(5)]))
    pq.write_table(extra, pool / "part-3.parquet")
    met = {
        str(r[0]) for r in sqlite3.connect(state_file).execute("SELECT item_id FROM fingerprints")
    }
    first_file = pq.read_table(pool / "part-0.parquet").to_pandas()
    unseen = next(i for i, item in enumerate(first_file["item_id"]) if item not in met)
    first_file.loc[unseen, "alcohol"] = 99.0
    pq.write_table(pa.Table.from_pandas(first_file, preserve_index=False), pool / "part-0.parquet")
    grown = cycle()
    assert grown.exit_code == 0, grown.output
    assert "note: 5 new item(s) in wine joined the pool" in grown.stderr
    seen = next(i for i, item in enumerate(first_file["item_id"]) if item in met)
    first_file.loc[seen, "alcohol"] = 99.0
    pq.write_table(pa.Table.from_pandas(first_file, preserve_index=False), pool / "part-0.parquet")
    n_tasks = len(list(api(credentials).tasks.list(project=project_id)))
    refused = cycle()
    assert refused.exit_code == 1
    assert "data file wine changed since the project was built: 1 item changed" in (refused.stderr)
    assert len(list(api(credentials).tasks.list(project=project_id))) == n_tasks

    # Accepting the files sends the changed item back to people; the loop goes on.
    code, out, err = run("accept-data", "--config", str(config), "--workdir", str(workdir))
    assert code == 0, err
    assert "accepted wine: 1 item changed, 0 added, 0 removed" in out, out
    assert cycle().exit_code == 0


def test_a_partitioned_pool_refuses_what_needs_it_whole(tmp_path: Path) -> None:
    pool = _wine_parquet(tmp_path / "wine")
    assert init("wines", pool, tmp_path)[0] == 0
    config = tmp_path / "wines.yaml"
    settings = yaml.safe_load(config.read_text())
    for change, message in (
        ({"strategy": "entropy"}, "strategy: entropy cannot stream a partitioned pool"),
        (
            {"routing": {"enabled": True, "always_human": [{"column": "grape", "equals": "x"}]}},
            "routing.always_human.0.column: 'grape' is not a column of",
        ),
    ):
        config.write_text(yaml.safe_dump({**settings, **change}))
        code, _, err = run("cycle", "--config", str(config), "--workdir", str(tmp_path / "w"))
        assert code == 1
        assert message in err, err
        assert len(err.strip().splitlines()) == 1


def test_a_text_pool_in_parquet_cycles_on_embeddings_cached_per_row_group(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    folder = write_topic_parquet(tmp_path / "news", 60, files=3, row_group_size=10)
    code, _, err = run(
        "init", "news", "--data", str(folder), "--label-column", "label", "--id-column", "doc",
        "--configs-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    config = tmp_path / "news.yaml"
    settings = yaml.safe_load(config.read_text())
    assert settings["featurizer"] == {"kind": "hashing"}  # init's default: no vocabulary
    settings["featurizer"] = {"kind": "embeddings"}
    config.write_text(yaml.safe_dump(settings))
    cache = tmp_path / "cache"
    env = {"LABELLOOP_CACHE_DIR": str(cache)}
    argv = ["cycle", "--config", str(config), "--workdir", str(workdir)]

    first = CliRunner().invoke(main, argv, env=env)
    assert first.exit_code == 0, first.output
    assert len(list((cache / "partitions").glob("*.npy"))) == 6  # one per row group
    state_file = workdir / "projects" / "news" / "state.sqlite"
    project_id = int(
        sqlite3.connect(state_file)
        .execute("SELECT value FROM meta WHERE key = 'project_id'")
        .fetchone()[0]
    )
    tasks = list(api(credentials).tasks.list(project=project_id, fields="all"))
    truth = read_table(folder).set_index("doc")
    assert tasks and all(t.data["text"] == truth.at[t.data["item_id"], "body"] for t in tasks)

    state = StateStore(state_file)
    try:
        label_tasks(
            SimpleNamespace(state=state),
            credentials,
            lambda i, _: str(truth.at[i, "label"]),
            to_name="text",
        )
    finally:
        state.close()
    second = CliRunner().invoke(main, argv, env=env)
    assert second.exit_code == 0, second.output
    assert "model labelloop-news:v1" in second.stdout, second.stdout
    assert len(list((cache / "partitions").glob("*.npy"))) == 6  # read back, not redone


def test_routing_a_partitioned_pool_stores_only_machine_labels(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    workdir, credentials = label_studio
    rng = np.random.default_rng(0)
    n = 2_000
    y = rng.integers(0, 2, n)
    X = rng.normal(0.0, 1.0, (n, 4)) + 2.5 * y[:, None]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame.insert(0, "key", [f"k{i:04d}" for i in range(n)])
    frame["label"] = np.where(y == 1, "high", "low")
    frame["region"] = np.where(np.arange(n) % 10 == 0, "north", "south")
    folder = tmp_path / "blobs"
    folder.mkdir()
    for part in range(4):
        piece = frame.iloc[500 * part : 500 * (part + 1)]
        pq.write_table(
            pa.Table.from_pandas(piece, preserve_index=False),
            folder / f"part-{part}.parquet",
            row_group_size=200,
        )
    code, _, err = run(
        "init", "blobs", "--data", str(folder), "--label-column", "label", "--id-column", "key",
        "--feature-columns", "a,b,c,d", "--configs-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    config = tmp_path / "blobs.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["evaluation"] = {"size": 150, "per_batch": 150}
    settings["routing"] = {
        "enabled": True,
        "target_precision": 0.9,
        "always_human": [{"column": "region", "equals": "north"}],
    }
    config.write_text(yaml.safe_dump(settings))
    truth = dict(zip(frame["key"], frame["label"], strict=True))
    state_file = workdir / "projects" / "blobs" / "state.sqlite"
    w = ("--config", str(config), "--workdir", str(workdir))

    def label_all() -> None:
        state = StateStore(state_file)
        try:
            label_tasks(SimpleNamespace(state=state), credentials, lambda i, _: truth[i])
        finally:
            state.close()

    for _ in range(3):  # cold start; first model; a model with the whole evaluation set
        code, _, err = run("cycle", *w)
        assert code == 0, err
        label_all()
    code, _, err = run("cycle", *w)
    assert code == 0, err
    db = sqlite3.connect(state_file)
    summary = json.loads(db.execute("SELECT value FROM meta WHERE key = 'routing'").fetchone()[0])
    counts = summary["counts"]
    # Routing ran before this cycle's batch (its picks and audits) was queued.
    last = db.execute("SELECT batch_id FROM batches ORDER BY rowid DESC").fetchone()[0]
    this_batch = {
        r[0] for r in db.execute("SELECT item_id FROM batch_items WHERE batch_id = ?", (last,))
    }
    n_closed = len(
        {r[0] for r in db.execute("SELECT item_id FROM annotations")}
        | {r[0] for r in db.execute("SELECT item_id FROM eval_items")}
        | ({r[0] for r in db.execute("SELECT item_id FROM tasks")} - this_batch)
    )
    # Every open item of the pool was routed; most go to the machine on such data.
    assert sum(counts.values()) == n - n_closed
    assert counts["auto"] > 1_000, counts
    assert summary["n_pool"] == n
    stored = list(db.execute("SELECT item_id, route, eligible FROM routes"))
    # Only machine labels (and items eligible for one) are stored, never a human route.
    assert len(stored) == counts["auto"], (len(stored), counts)
    assert {r[1] for r in stored} == {"auto"}
    # The rule keeps every northern item for people.
    north = set(frame.loc[frame["region"] == "north", "key"])
    assert not north & {r[0] for r in stored}
    # The machine labels are exported with their source.
    code, _, err = run("export", *w, "--out", str(tmp_path / "labels.csv"))
    assert code == 0, err
    exported = read_table(tmp_path / "labels.csv")
    machine = exported[exported["source"] == "machine"]
    assert len(machine) == counts["auto"]
    assert (machine["label"] == machine["item_id"].map(truth)).mean() > 0.9
    # --route needs every item's route, which a partitioned pool does not keep.
    code, _, err = run("push", *w, "--route", "review")
    assert code == 1 and "--route review: a partitioned pool keeps only" in err, err


def test_items_nobody_saw_may_leave_the_files_those_people_saw_may_not(tmp_path: Path) -> None:
    from labelloop.annotate.config.schema import load_config
    from labelloop.annotate.errors import DataChangedError
    from labelloop.annotate.loop.scale import open_working_set

    pool = _wine_parquet(tmp_path / "wine")
    assert init("wines", pool, tmp_path)[0] == 0
    settings = yaml.safe_load((tmp_path / "wines.yaml").read_text())
    settings["stopping"]["stop_set_size"] = 10
    (tmp_path / "wines.yaml").write_text(yaml.safe_dump(settings))
    config = load_config(tmp_path / "wines.yaml")

    def rewrite(name: str, drop: set[str]) -> None:
        frame = pq.read_table(pool / name).to_pandas()
        kept = frame[~frame["item_id"].isin(drop)]
        pq.write_table(pa.Table.from_pandas(kept, preserve_index=False), pool / name)

    state = StateStore(tmp_path / "state.sqlite")
    try:
        working = open_working_set(config, state)
        stop = set(json.loads(state.get_meta("stop_set") or "[]"))
        upcoming = set(state.eval_order()[:10])  # the next batch's evaluation items
        assert set(working.pool.ids.tolist()) == stop | upcoming  # 20 rows at most of 178
        assert len(stop) == 10
        assert not state.fingerprints()  # nobody saw anything yet
        # Rows nobody was shown leave a file: they leave the stop and evaluation sets.
        last = set(pq.read_table(pool / "part-2.parquet").column("item_id").to_pylist())
        unseen = last & (stop | upcoming)
        assert unseen
        rewrite("part-2.parquet", unseen)
        working = open_working_set(config, state)
        assert set(json.loads(state.get_meta("stop_set") or "[]")) == stop - unseen
        assert not unseen & state.eval_items()
        # Items joining a batch are recorded as met; one of them leaves the files: the
        # project refuses to open until someone accepts.
        batch = sorted(set(working.pool.ids.tolist()) - stop - unseen)[:3]
        working.grow(batch)
        assert set(state.fingerprints()) == set(batch)
        for name in ("part-0.parquet", "part-1.parquet", "part-2.parquet"):
            rewrite(name, {batch[0]})
        with pytest.raises(DataChangedError, match="0 items changed, 0 added, 1 removed"):
            open_working_set(config, state)
    finally:
        state.close()


def test_simulate_streams_a_pool_that_memory_cannot_hold_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labelloop.datasets import _loaders

    pool = _wine_parquet(tmp_path / "wine")
    assert init("wines", pool, tmp_path)[0] == 0
    monkeypatch.setattr(_loaders, "_available_memory", lambda: 10_000)
    config = str(tmp_path / "wines.yaml")
    code, _, err = run(
        "simulate",
        "--config",
        config,
        "--budget",
        "40",
        "--seeds",
        "1",
        "--out",
        str(tmp_path / "sim"),
    )
    assert code == 0, err
    assert "streaming wine: each step scores the whole pool (stream)" in err
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert set(summary["strategies"]) == {"margin", "random"}
    # Reading it whole is still refused in one line where only that works.
    with pytest.raises(DataFileError, match=r"reading its 178 rows whole needs at least"):
        read_table(pool)
    code, _, err = run("simulate", "--config", config, "--routing", "--out", str(tmp_path / "r"))
    assert code == 1
    assert err.strip() == (
        "error: --routing: simulating human in the loop reads wine whole (memory cannot "
        "hold it; simulate on some of its files)"
    ), err
    code, _, err = run(
        "simulate", "--config", config, "--strategies", "entropy", "--out", str(tmp_path / "e")
    )
    assert code == 1
    assert "--strategies: 'entropy' cannot stream wine" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.integration
def test_a_cycle_resumed_after_the_files_changed_picks_on_their_new_scale(
    label_studio: tuple[Path, Credentials], tmp_path: Path
) -> None:
    """Killed once its model is logged, before picking; a file joins; the rerun resumes.

    The resumed cycle's guesses come from a model on the features as they are now
    standardized, not from the logged one, fitted on the old scale.
    """
    import os
    import subprocess
    import sys

    from sklearn.linear_model import LogisticRegression

    workdir, credentials = label_studio
    pool = _wine_parquet(tmp_path / "wine")
    assert init("resumed", pool, tmp_path)[0] == 0
    config = tmp_path / "resumed.yaml"
    written = yaml.safe_load(config.read_text())
    written["stopping"]["stop_set_size"] = 10
    config.write_text(yaml.safe_dump(written))
    state_file = workdir / "projects" / "resumed" / "state.sqlite"
    truth = read_table(pool).set_index("item_id")["label"].to_dict()
    env = {**os.environ, "LABELLOOP_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("LABELLOOP_FAILPOINT", None)
    command = [str(Path(sys.executable).parent / "labelloop"), "cycle", "--config", str(config)]
    command += ["--workdir", str(workdir)]

    def cycle(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, env={**env, **extra}, capture_output=True, text=True, timeout=600
        )

    assert cycle().returncode == 0
    state = StateStore(state_file)
    try:
        assert label_tasks(SimpleNamespace(state=state), credentials, lambda i, _: truth[i]) == 20
    finally:
        state.close()
    assert cycle(LABELLOOP_FAILPOINT="score").returncode == -9
    # A file joins with the same wines at five times the scale: every mean and scale moves.
    joined = read_table(pool)
    joined["item_id"] = [f"n{i}" for i in joined["item_id"]]
    numeric = written["data"]["feature_columns"]
    joined[numeric] = joined[numeric] * 5
    pq.write_table(pa.Table.from_pandas(joined, preserve_index=False), pool / "part-9.parquet")
    rerun = cycle()
    assert rerun.returncode == 0, rerun.stderr

    guesses, train = last_batch_guesses(state_file)
    source = ParquetPool.open(pool, id_column="item_id", feature_columns=numeric)
    source = source.feature_moments()  # the moments of the files as they are now
    mean, scale = np.asarray(source.mean), np.asarray(source.scale)

    def features(ids: list[str]) -> Any:
        return (source.rows(ids, numeric).loc[ids].to_numpy(dtype=float) - mean) / scale

    model = LogisticRegression(max_iter=1000).fit(features(train), [truth[i] for i in train])
    shown = sorted(i for i, c in guesses.items() if c is not None)
    assert len(shown) == 10  # the margin picks (evaluation items carry no guess)
    expected = model.predict_proba(features(shown)).max(axis=1)
    assert [guesses[i] for i in shown] == pytest.approx(expected.tolist(), abs=1e-4)


def test_random_ids_of_a_partitioned_pool_skip_what_is_excluded(tmp_path: Path) -> None:
    from labelloop.annotate.loop.scale import random_ids

    folder = write_topic_parquet(tmp_path / "topics", n_rows=300, files=3, row_group_size=40)
    source = ParquetPool.open(folder, id_column="doc", text_column="body")
    everyone = [f"d{k:03d}" for k in range(300)]
    rng = np.random.default_rng(0)
    exclude = set(everyone[:290])  # nearly all excluded: the draw grows until it finds them
    drawn = random_ids(source, 5, exclude, rng)
    assert len(drawn) == 5 == len(set(drawn)) and not set(drawn) & exclude
    assert all(isinstance(i, str) for i in drawn)
    assert sorted(random_ids(source, 50, exclude, rng)) == everyone[290:]  # fewer are left
    assert random_ids(source, 3, set(everyone), rng) == []
    counts = pd.Series([i for _ in range(600) for i in random_ids(source, 10, set(), rng)])
    # Uniform over the files: every id turns up, about 20 times, none far more often.
    assert counts.nunique() == 300 and counts.value_counts().max() < 45

"""Tracker against real MLflow stores: one per project, and one-line errors when they fail."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from labelloop.annotate.errors import TrackingError, TrackingUnavailableError
from labelloop.annotate.labelstudio.server import free_port
from labelloop.annotate.loop.packaging import model_inputs, package_model
from labelloop.annotate.loop.tracking import HTTP_DEFAULTS, CycleLog, Tracker
from labelloop.datasets import NumericFeaturizer, load_demo_pool


def _entry(cycle: int) -> CycleLog:
    pool = load_demo_pool("wine")
    X, features = NumericFeaturizer().fit(pool)
    model = LogisticRegression(max_iter=1000).fit(X, pool.labels.astype(str))
    package = package_model(
        model,
        features,
        labels=pool.classes,
        inputs=model_inputs(pool),
        featurizer={"kind": "numeric"},
        config_hash="h",
    )
    return CycleLog(
        cycle=cycle,
        params={"strategy": "margin"},
        metrics={"macro_f1": 0.9},
        step=10,
        chosen=[],
        confusion=None,
        labels=pool.classes,
        curve=[],
        labels_hash="h",
        package=package,
    )


def test_each_project_logs_to_its_own_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # anything written to ./mlruns would land here
    first = Tracker(tmp_path / "a", "first")
    second = Tracker(tmp_path / "b", "second")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert first.uri != second.uri
    run_a, _, _ = first.log_cycle(_entry(1), metric="macro_f1")
    run_b, _, _ = second.log_cycle(_entry(1), metric="macro_f1")
    assert [r.info.run_id for r in first.client.search_runs([first.experiment_id])] == [run_a]
    assert [r.info.run_id for r in second.client.search_runs([second.experiment_id])] == [run_b]
    assert (tmp_path / "a" / "mlflow.db").is_file() and (tmp_path / "b" / "mlflow.db").is_file()
    assert not (tmp_path / "mlruns").exists()
    assert hasattr(first.load_classifier(run_a), "predict_proba")
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_a_store_mlflow_cannot_use_is_one_line_tracking_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://mlflow.example.org")
    with pytest.raises(TrackingError, match=r"^MLflow at nosuchscheme://mlflow\.example\.org"):
        Tracker(tmp_path, "badscheme")
    (tmp_path / "not-a-folder").write_text("")  # a SQLite store that cannot be created
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'not-a-folder' / 'm.db'}")
    with pytest.raises(TrackingError) as caught:
        Tracker(tmp_path, "nofolder")
    assert not isinstance(caught.value, TrackingUnavailableError)
    assert "\n" not in str(caught.value)


def test_an_unreachable_server_is_reported_within_seconds_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:s3cret@127.0.0.1:{port}")
    for name in HTTP_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    start = time.monotonic()
    with pytest.raises(TrackingUnavailableError) as caught:
        Tracker(tmp_path, "unreachable")
    assert time.monotonic() - start < 20
    assert str(caught.value) == (
        f"cannot reach MLflow at http://***@127.0.0.1:{port} (tracking URI); "
        "is the tracking server running?"
    )


def test_a_discarded_cycle_gives_the_champion_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = Tracker(tmp_path, "handback")
    tracker.log_cycle(_entry(1), metric="macro_f1")
    better = _entry(2)
    better.metrics = {"macro_f1": 0.95}
    _, version, champion = tracker.log_cycle(better, metric="macro_f1")
    assert champion and version == "2"
    # Cycle 2 dies before the state records it: the rerun discards its run and version.
    tracker.discard_unfinished(2)
    alias = tracker.client.get_model_version_by_alias(tracker.model_name, "champion")
    assert str(alias.version) == "1"

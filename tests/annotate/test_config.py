"""Project configs: good ones load, bad ones fail with one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate._config import build_estimator, load_config
from annotate._errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: demo
data: {source: 'bundled:wine'}
featurizer: {kind: numeric}
batch_size: 5
"""


@pytest.mark.parametrize("name", ["bbc_news", "digits", "wine"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config.name == name
    build_estimator(config.model)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "project.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            GOOD.replace("batch_size: 5", "batch_size: -5"),
            "batch_size: Input should be greater than 0 (got -5)",
        ),
        (GOOD + "strategy: smart\n", "strategy: unknown strategy 'smart'; known: random,"),
        (GOOD + "cold_start: margin\n", "cold_start: unknown cold start 'margin'"),
        (GOOD + "colour: red\n", "colour: unknown field"),
        (
            GOOD.replace("kind: numeric", "kind: bert"),
            "featurizer.kind: Input should be 'tfidf', 'numeric' or 'embeddings' (got 'bert')",
        ),
        ("data: {source: 'bundled:wine'}\n", "name: Field required"),
        ("name: x\ndata: {source: pool.csv}\n", "data: name text_column or feature_columns"),
        (
            GOOD + "model: {estimator: sklearn.svm.LinearSVC}\n",
            "model.estimator: sklearn.svm.LinearSVC has no predict_proba",
        ),
        (
            GOOD + "model: {estimator: sklearn.nope.Thing}\n",
            "model.estimator: cannot import module 'sklearn.nope'",
        ),
        ("name: [unclosed\n", "cannot parse YAML at line"),
        ("- just\n- a list\n", "expected a mapping of settings, got list"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert fragment in message


def test_bad_estimator_params_are_caught_before_training(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + "model: {params: {C: -1}}\n"))
    with pytest.raises(ConfigError, match=r"model\.params: The 'C' parameter"):
        build_estimator(config.model)
    config = load_config(write(tmp_path, GOOD + "model: {params: {colour: 1}}\n"))
    with pytest.raises(ConfigError, match=r"model\.params: .*colour"):
        build_estimator(config.model)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_relative_data_path_resolves_against_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ndata: {source: data/pool.csv, text_column: t}\n")
    assert load_config(path).data_path() == tmp_path / "data" / "pool.csv"


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(Exception, match="frozen"):
        config.batch_size = 3

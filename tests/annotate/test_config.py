"""Project configs: good ones load, bad ones fail with one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelloop.annotate.config.schema import build_estimator, load_config
from labelloop.annotate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: demo
data: {source: 'bundled:wine'}
featurizer: {kind: numeric}
batch_size: 5
"""


@pytest.mark.parametrize("name", ["bbc_news", "digits", "wine", "demo"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config.name == {"demo": "demo-bbc-news"}.get(name, name)
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
            "featurizer.kind: Input should be 'tfidf', 'hashing', 'numeric' or 'embeddings' "
            "(got 'bert')",
        ),
        ("data: {source: 'bundled:wine'}\n", "name: Field required"),
        (
            "name: x\ndata: {source: pool.csv}\n",
            "data: name text_column, feature_columns or categorical_columns",
        ),
        (
            "name: x\ndata: {source: pool.csv, text_column: t, categorical_columns: [c]}\n",
            "categorical_columns: a text pool uses its text_column alone",
        ),
        (
            GOOD + "model: {estimator: sklearn.svm.LinearSVC}\n",
            "model.estimator: sklearn.svm.LinearSVC has no predict_proba",
        ),
        (
            GOOD + "model: {estimator: sklearn.nope.Thing}\n",
            "model.estimator: cannot import module 'sklearn.nope'",
        ),
        (
            GOOD + "routing: {enabled: true, target_precision: 1.2}\n",
            "routing.target_precision: Input should be less than 1 (got 1.2)",
        ),
        (
            GOOD + "routing: {always_human: [{column: alcohol, at_least: 13, at_most: 14}]}\n",
            "routing.always_human.0: rule on column 'alcohol': give one of equals,",
        ),
        (
            GOOD + "routing: {always_human: [{column: note, matches: '(unclosed'}]}\n",
            "matches: bad regular expression '(unclosed'",
        ),
        (GOOD + "routing: {audit: {rate: 2}}\n", "routing.audit.rate: Input should be less than"),
        (GOOD + "exploration: 1\n", "exploration: should be a share in [0, 1) or auto (got 1)"),
        (GOOD + "exploration: high\n", "should be a share in [0, 1) or auto (got 'high')"),
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


@pytest.mark.parametrize(
    ("value", "loaded"),
    [("auto", "auto"), ("AUTO", "auto"), ("0.25", 0.25), ("'0.25'", 0.25), ("0", 0.0)],
)
def test_exploration_is_a_share_or_auto(tmp_path: Path, value: str, loaded: object) -> None:
    assert load_config(write(tmp_path, GOOD + f"exploration: {value}\n")).exploration == loaded


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


@pytest.mark.parametrize(
    ("routing", "fragment"),
    [
        (
            "{enabled: true, always_human_classes: [class_9]}",
            "routing.always_human_classes: 'class_9' is not a label (class_0, class_1, class_2)",
        ),
        (
            "{enabled: true, always_human: [{column: colour, equals: red}]}",
            "routing.always_human.0.column: 'colour' is not a column of",
        ),
    ],
)
def test_routing_rules_must_fit_the_data(tmp_path: Path, routing: str, fragment: str) -> None:
    from labelloop.annotate.config.rules import check_routing
    from labelloop.annotate.loop.features import load_project_pool

    config = load_config(write(tmp_path, GOOD + f"routing: {routing}\n"))
    pool = load_project_pool(config)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        check_routing(config, pool, pool.classes)


def test_human_rules_pick_the_rows_they_name() -> None:
    import pandas as pd

    from labelloop.annotate.config.rules import human_rule_mask
    from labelloop.annotate.config.schema import HumanRule

    frame = pd.DataFrame(
        {
            "source": ["web", "clinic", "web", None],
            "amount": [5, 50, 500, 7],
            "text": ["refund please", "hello", "LEGAL notice", "hi"],
        }
    )
    rules = [
        HumanRule(column="source", one_of=("clinic",)),
        HumanRule(column="amount", at_least=100),
        HumanRule(column="text", matches="(?i)legal|refund"),
    ]
    assert human_rule_mask(frame, rules).tolist() == [True, True, True, False]
    assert human_rule_mask(frame, []).tolist() == [False] * 4

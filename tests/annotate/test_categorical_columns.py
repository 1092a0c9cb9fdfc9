"""Tables with columns of categories: inferred by `init`, one-hot encoded, and scored raw.

A user's CSV of people or customers mixes numbers, categories (``Sex``, ``Embarked``),
free text that is no prose (names), an id that is no feature and numbers with gaps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from labelloop.annotate.cli.main import main
from labelloop.annotate.config.schema import load_config
from labelloop.annotate.loop.features import load_project_pool
from labelloop.annotate.loop.packaging import model_inputs, package_model, raw_rows
from labelloop.datasets import FeatureValueError, NumericFeaturizer, load_pool
from labelloop.datasets._errors import ColumnError


def passengers(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Survival driven by a category (sex) and a number (class); names are noise."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], n)
    travel_class = rng.choice([1, 2, 3], n)
    port = rng.choice(np.array(["S", "C", "Q", None], dtype=object), n, p=[0.6, 0.2, 0.15, 0.05])
    age = rng.normal(30, 12, n).round()
    age[rng.random(n) < 0.2] = np.nan
    logit = 3.0 * (sex == "female") - 1.2 * (travel_class - 2) - 1.5
    survived = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    first = rng.choice(["John", "Anna", "Lou", "Ada", "Karl"], n)
    last = rng.choice(["Smith", "Jones", "Brown", "Lee", "Khan"], n)
    return pd.DataFrame(
        {
            "PassengerId": np.arange(1, n + 1),
            "Name": [f"{b}-{k}, {a}" for k, (a, b) in enumerate(zip(first, last, strict=True))],
            "Sex": sex,
            "Pclass": travel_class,
            "Age": age,
            "Embarked": port,
            "Survived": survived,
        }
    )


def init(tmp_path: Path, data: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main,
        [
            "init",
            "people",
            "--data",
            str(data),
            "--label-column",
            "Survived",
            "--configs-dir",
            str(tmp_path / "configs"),
            *extra,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def test_init_finds_categories_fills_gaps_in_numbers_and_leaves_out_names_and_ids(
    tmp_path: Path,
) -> None:
    data = tmp_path / "people.csv"
    frame = passengers()
    frame.to_csv(data, index=False)
    code, out, err = init(tmp_path, data)
    assert code == 0, err
    assert frame["Age"].isna().sum() > 40
    assert "4 feature columns (2 numeric, 2 of categories: Sex, Embarked)" in out
    assert "gaps filled by the median in Age" in out
    assert "left out: Name (short text, not prose)." in out
    settings = yaml.safe_load((tmp_path / "configs" / "people.yaml").read_text())
    assert settings["data"]["id_column"] == "PassengerId"
    assert settings["data"]["text_column"] is None
    assert settings["data"]["feature_columns"] == ["Pclass", "Age"]
    assert settings["data"]["categorical_columns"] == ["Sex", "Embarked"]
    assert settings["data"]["missing_numbers"] == "median"
    assert settings["featurizer"] == {"kind": "numeric"}


def test_prose_beside_a_category_still_makes_a_text_pool(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    words = ["the", "match", "was", "won", "by", "a", "late", "goal", "shares", "fell", "today"]
    frame = pd.DataFrame(
        {
            "id": range(60),
            "source": rng.choice(["wire", "web"], 60),
            "body": [" ".join(rng.choice(words, 9)) for _ in range(60)],
            "Survived": rng.choice(["a", "b"], 60),
        }
    )
    data = tmp_path / "news.csv"
    frame.to_csv(data, index=False)
    code, out, err = init(tmp_path, data)
    assert code == 0, err
    assert "text column 'body'" in out and "source (a text pool learns from its text" in out
    settings = yaml.safe_load((tmp_path / "configs" / "people.yaml").read_text())
    assert "categorical_columns" not in settings["data"]


def test_named_feature_columns_of_words_are_categories_and_a_stray_word_is_refused(
    tmp_path: Path,
) -> None:
    data = tmp_path / "people.csv"
    passengers().to_csv(data, index=False)
    code, out, err = init(tmp_path, data, "--feature-columns", "Pclass,Sex")
    assert code == 0, err
    assert "2 feature columns (1 numeric, 1 of categories: Sex)" in out
    typo = passengers()
    typo["Pclass"] = typo["Pclass"].astype(object)
    typo.loc[5, "Pclass"] = "first"
    typo.to_csv(data, index=False)
    code, _, err = init(tmp_path, data, "--feature-columns", "Pclass,Sex", "--force")
    assert code == 1
    assert err.count("\n") == 1
    assert "feature column 'Pclass' has a non-numeric or missing value 'first'" in err
    assert "categorical_columns" in err


def test_a_column_named_as_numbers_and_as_categories_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    passengers().to_csv(data, index=False)
    with pytest.raises(ColumnError, match="'Sex' is named both in feature_columns"):
        load_pool(data, feature_columns=["Sex"], categorical_columns=["Sex"])
    with pytest.raises(FeatureValueError, match="'Sex' has a non-numeric"):
        load_pool(data, feature_columns=["Sex"])


def test_categories_are_one_hot_and_an_unseen_one_sets_none(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    passengers().to_csv(data, index=False)
    pool = load_pool(
        data,
        id_column="PassengerId",
        feature_columns=["Pclass"],
        categorical_columns=["Sex", "Embarked"],
        label_column="Survived",
    )
    assert pool.numeric_columns == ("Pclass",)
    assert "" in set(pool.frame["Embarked"])  # a gap is a category of its own
    X, transformer = NumericFeaturizer().fit(pool)
    # Pclass scaled, then female/male, then the gap and C/Q/S.
    assert X.shape == (400, 1 + 2 + 4)
    assert np.allclose(X[:, 1:].sum(axis=1), 2.0)
    unseen = pd.DataFrame({"Pclass": [2.0], "Sex": ["other"], "Embarked": ["X"]})
    assert np.allclose(transformer.transform(unseen)[0, 1:], 0.0)


def test_a_model_of_categories_scores_raw_rows_in_a_fresh_mlflow_process(
    tmp_path: Path,
) -> None:
    data = tmp_path / "people.csv"
    passengers(n=500).to_csv(data, index=False)
    code, _, err = init(tmp_path, data)
    assert code == 0, err
    config = load_config(tmp_path / "configs" / "people.yaml")
    pool = load_project_pool(config)
    X, features = NumericFeaturizer(impute=True).fit(pool)
    classifier = LogisticRegression(max_iter=1000).fit(X[:400], pool.labels[:400].astype(str))
    inputs = model_inputs(pool)
    assert inputs == {"Pclass": "double", "Age": "double", "Sex": "string", "Embarked": "string"}
    package = package_model(
        classifier,
        features,
        labels=pool.classes,
        inputs=inputs,
        featurizer={"kind": "numeric", "missing_numbers": "median"},
        config_hash="h",
        example=raw_rows(pool, inputs, pool.ids[:3]),
    )
    pipeline_file = tmp_path / "pipeline.joblib"
    joblib.dump(package.pipeline, pipeline_file)
    with warnings.catch_warnings():
        # MLflow compares the example's column index with a range (a pandas warning);
        # labelloop's tracker keeps such warnings out of a command's output the same way.
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(
            path=str(tmp_path / "model"), **package.mlflow_arguments(pipeline_file)
        )
    rows = raw_rows(pool, inputs, pool.ids[400:]).reset_index(drop=True)
    rows.loc[0, "Embarked"] = None  # a gap, as a caller's frame has it
    rows.loc[1, "Sex"] = "unknown"  # a category never seen in training
    rows.loc[2, "Age"] = np.nan  # a gap in a number, filled by the training median
    rows.to_json(tmp_path / "rows.json", orient="records")
    script = (
        "import sys, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "types = {'Pclass': float, 'Age': float, 'Sex': str, 'Embarked': str}  # as the signature\n"
        "rows = pd.read_json(sys.argv[2], orient='records', dtype=types)\n"
        "model.predict(rows).to_json(sys.argv[3], orient='split')\n"
    )
    out = tmp_path / "scores.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model"), str(tmp_path / "rows.json"), out],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    scored = pd.read_json(out, orient="split")
    expected = rows.copy()
    expected.loc[0, "Embarked"] = ""
    proba = classifier.predict_proba(features.transform(expected))
    assert list(scored.columns) == ["no", "yes"]
    assert np.allclose(scored.to_numpy(), proba, atol=1e-9)
    # The model learned what drives survival here: women survive more often.
    women = (expected["Sex"] == "female").to_numpy()
    assert scored["yes"].to_numpy()[women].mean() > scored["yes"].to_numpy()[~women].mean() + 0.3
    assert json.loads(out.read_text())["columns"] == ["no", "yes"]


def test_simulate_runs_on_a_table_with_categories(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    passengers().to_csv(data, index=False)
    code, _, err = init(tmp_path, data)
    assert code == 0, err
    path = tmp_path / "configs" / "people.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["budget"] = 60
    path.write_text(yaml.safe_dump(settings))
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--config",
            str(path),
            "--out",
            str(tmp_path / "runs"),
            "--strategies",
            "margin,random",
            "--seeds",
            "2",
        ],
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    # Sex alone separates most outcomes: the full-pool model is far above the majority.
    majority = (passengers()["Survived"] == "no").mean()
    full = np.mean(list(summary["meta"]["full_pool_accuracy_by_seed"].values()))
    assert full > max(majority, 1 - majority) + 0.1


def test_a_changed_category_changes_the_item_digest(tmp_path: Path) -> None:
    from labelloop.annotate.loop.data_change import item_fingerprints

    frame = passengers(n=50)
    data = tmp_path / "people.csv"
    frame.to_csv(data, index=False)

    def digests() -> dict[str, str]:
        pool = load_pool(
            data, id_column="PassengerId", feature_columns=["Pclass"], categorical_columns=["Sex"]
        )
        return item_fingerprints(pool)

    before = digests()
    frame.loc[3, "Sex"] = "female" if frame.loc[3, "Sex"] == "male" else "male"
    frame.to_csv(data, index=False)
    after = digests()
    assert [item for item in before if before[item] != after[item]] == ["4"]


def test_a_row_number_written_with_the_rows_is_the_id_not_a_feature() -> None:
    from labelloop.annotate.config.writer import infer_columns

    frame = passengers(n=30).drop(columns=["PassengerId"])
    for name, start in (("rownames", 1), ("Unnamed: 0", 0)):
        numbered = frame.assign(**{name: np.arange(start, start + 30)})
        columns = infer_columns(numbered, label_column="Survived")
        assert columns.id_column == name and name not in columns.feature_columns
    shuffled = frame.assign(score=np.random.default_rng(0).permutation(30))
    columns = infer_columns(shuffled, label_column="Survived")
    assert columns.id_column is None and "score" in columns.feature_columns
    counted = frame.assign(day=np.arange(1, 31))  # counts 1, 2, 3 but is named as a feature
    columns = infer_columns(counted, label_column="Survived")
    assert columns.id_column is None and "day" in columns.feature_columns


def test_gaps_in_categories_of_jsonl_and_parquet_files_load(tmp_path: Path) -> None:
    records = [
        {"x": 1.0, "colour": "red", "y": "a"},
        {"x": 2.0, "colour": None, "y": "b"},
        {"x": 3.0, "colour": "blue", "y": "a"},
    ]
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    pool = load_pool(jsonl, feature_columns=["x"], categorical_columns=["colour"], label_column="y")
    assert pool.frame["colour"].tolist() == ["red", "", "blue"] and len(set(pool.ids)) == 3
    frame = pd.DataFrame(records)
    frame["colour"] = frame["colour"].astype("category")
    frame["code"] = pd.array([1, None, 3], dtype="Int64")  # codes, with a gap
    frame.to_parquet(tmp_path / "items.parquet")
    pool = load_pool(
        tmp_path / "items.parquet",
        feature_columns=["x"],
        categorical_columns=["colour", "code"],
        label_column="y",
    )
    assert pool.frame["code"].tolist() == ["1", "", "3"]


def test_ids_are_inferred_from_id_like_names_only(tmp_path: Path) -> None:
    from labelloop.annotate.config.writer import infer_columns

    frame = passengers(n=40).drop(columns=["PassengerId"])
    paid = frame.assign(AMOUNT_PAID=np.random.default_rng(0).random(40))
    assert infer_columns(paid, label_column="Survived").id_column is None
    blank = frame.assign(customer_id=[f"c{k}" for k in range(39)] + [""])
    assert infer_columns(blank, label_column="Survived").id_column is None
    named = frame.assign(customer_id=[f"c{k}" for k in range(40)])
    assert infer_columns(named, label_column="Survived").id_column == "customer_id"
    chosen = infer_columns(named, label_column="Survived", categorical_columns=["customer_id"])
    assert chosen.id_column is None and chosen.categorical_columns[0] == "customer_id"


def test_numbers_with_r_style_na_are_numbers_with_gaps() -> None:
    from labelloop.annotate.config.writer import infer_columns

    frame = passengers(n=40).assign(
        score=["NA"] * 5 + [str(k) for k in range(35)],
        mostly_gaps=["null"] * 30 + [str(k) for k in range(10)],
    )
    columns = infer_columns(frame, label_column="Survived")
    assert "score" in columns.feature_columns  # its five gaps are filled by the median
    assert columns.left_out["mostly_gaps"] == "30 gap(s) in numbers"


def test_gaps_in_numbers_load_as_nan_and_are_filled_by_the_training_median(
    tmp_path: Path,
) -> None:
    data = tmp_path / "items.csv"
    data.write_text("id,x,y\n1,1,a\n2,NA,b\n3,,a\n4,5,b\n5,null,a\n")
    with pytest.raises(FeatureValueError, match=r"data\.missing_numbers: median"):
        load_pool(data, id_column="id", feature_columns=["x"], label_column="y")
    pool = load_pool(
        data, id_column="id", feature_columns=["x"], label_column="y", missing_numbers="median"
    )
    assert np.isnan(pool.frame["x"].to_numpy()).sum() == 3
    matrix, transformer = NumericFeaturizer(scale=False, impute=True).fit(pool)
    X = np.asarray(matrix)
    # The median of 1 and 5, then a 0/1 column saying the value was filled.
    assert X[:, 0].tolist() == [1.0, 3.0, 3.0, 5.0, 3.0]
    assert X[:, 1].tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]
    assert transformer.transform(pd.DataFrame({"x": [np.nan]})).tolist() == [[3.0, 1.0]]
    data.write_text("id,x,y\n1,1,a\n2,many,b\n")
    with pytest.raises(FeatureValueError, match="non-numeric or missing value 'many'"):
        load_pool(
            data, id_column="id", feature_columns=["x"], label_column="y", missing_numbers="median"
        )


def test_outside_tasks_with_json_numbers_are_typed_as_the_model_takes_them() -> None:
    from labelloop.annotate.loop.serving import _typed, task_rows

    tasks: list[dict[str, Any]] = [
        {"data": {"table": {"Pclass": 3, "Sex": "male", "Embarked": 2.0}}},
        {"data": {"table": {"Pclass": None, "Sex": "female", "Embarked": "S"}}},
        {"data": {"table": {"Pclass": "unknown", "Sex": "male", "Embarked": "C"}}},
    ]
    rows, usable = task_rows(tasks, ["Pclass", "Sex", "Embarked"])
    typed, readable = _typed(rows, {"Pclass": "double", "Sex": "string", "Embarked": "string"})
    assert usable == [0, 1, 2]
    assert typed["Pclass"].dtype == np.float64 and typed.loc[0, "Embarked"] == "2"
    # A gap stays a gap (filled by the model); a word where a number belongs is no gap.
    assert readable.tolist() == [True, True, False] and typed["Pclass"].isna().tolist()[1]


def test_categories_given_by_name_may_be_codes(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    passengers().to_csv(data, index=False)
    code, out, err = init(tmp_path, data, "--categorical-columns", "Pclass,Sex")
    assert code == 0, err
    assert "4 feature columns (1 numeric, 3 of categories: Pclass, Sex, Embarked)" in out
    assert "; ids from 'PassengerId'" in out
    settings = yaml.safe_load((tmp_path / "configs" / "people.yaml").read_text())
    assert settings["data"]["categorical_columns"] == ["Pclass", "Sex", "Embarked"]
    pool = load_project_pool(load_config(tmp_path / "configs" / "people.yaml"))
    assert set(pool.frame["Pclass"]) == {"1", "2", "3"}


def test_a_config_written_before_categories_gaps_and_exploration_keeps_its_hash() -> None:
    from labelloop.annotate.loop.packaging import config_hash

    # The hash keys a project's logged model: were it to change on upgrade, the first
    # cycle would log the same model again. This value was measured before
    # data.categorical_columns and data.missing_numbers existed.
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "configs" / "bbc_news.yaml")
    assert config.exploration == 0.0
    assert config_hash(config) == "be35cd73f0f4d847"
    # A setting that changes the picks is in the hash once it is set.
    assert config_hash(config.model_copy(update={"exploration": 0.2})) != "be35cd73f0f4d847"


def test_a_model_trained_without_filling_names_the_column_of_a_gap(tmp_path: Path) -> None:
    from labelloop.datasets import load_demo_pool

    pool = load_demo_pool("wine")
    X, features = NumericFeaturizer().fit(pool)
    classifier = LogisticRegression(max_iter=1000).fit(X, pool.labels.astype(str))
    inputs = model_inputs(pool)
    package = package_model(
        classifier,
        features,
        labels=pool.classes,
        inputs=inputs,
        featurizer={"kind": "numeric"},
        config_hash="h",
    )
    joblib.dump(package.pipeline, tmp_path / "pipeline.joblib")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(
            path=str(tmp_path / "model"), **package.mlflow_arguments(tmp_path / "pipeline.joblib")
        )
        model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    rows = raw_rows(pool, inputs, pool.ids[:2]).reset_index(drop=True)
    first = next(iter(inputs))
    rows.loc[1, first] = np.nan
    with pytest.raises(Exception, match=f"input column '{first}' has a gap; this model version"):
        model.predict(rows)


def test_a_table_of_one_column_is_read_as_a_table_not_a_text() -> None:
    from labelloop.annotate.loop.serving import task_rows

    tasks = [{"data": {"table": {"Sex": "female"}, "note": "a free text beside it"}}]
    rows, usable = task_rows(tasks, ["Sex"], text=False)
    assert usable == [0] and rows["Sex"].tolist() == ["female"]


def test_the_served_model_spells_categories_as_the_loader_does() -> None:
    import runpy

    from labelloop.annotate.loop.packaging import MODEL_CODE
    from labelloop.datasets import category_text

    served = runpy.run_path(str(MODEL_CODE))["_category_text"]
    values = ["red", "", None, np.nan, pd.NA, 3, 3.0, "3.0", "-0.0", "007", 2.5, True, np.int64(4)]
    assert [served(v) for v in values] == [category_text(v) for v in values]


def test_init_names_dates_order_numbers_and_codes_and_keeps_the_rest(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "order_no": rng.permutation(np.arange(100_000, 100_200)),
            "signup_date": [f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}" for k in range(200)],
            "region": rng.integers(1, 6, 200),
            "income": rng.normal(50, 10, 200).round(2),
            "decision": rng.choice(["keep", "drop"], 200),
        }
    )
    data = tmp_path / "orders.csv"
    frame.to_csv(data, index=False)
    code, out, err = init(tmp_path, data, "--label-column", "decision")
    assert code == 0, err
    assert "ids from 'order_no'" in out
    assert "signup_date (dates: derive numbers from them to use them)" in out
    assert "read as numbers: region (a few whole numbers each)" in out
    # Naming one column a category changes its role only: income is still found.
    code, out, err = init(
        tmp_path, data, "--label-column", "decision", "--categorical-columns", "region", "--force"
    )
    assert code == 0, err
    assert "2 feature columns (1 numeric, 1 of categories: region)" in out
    settings = yaml.safe_load((tmp_path / "configs" / "people.yaml").read_text())
    assert settings["data"]["feature_columns"] == ["income"]

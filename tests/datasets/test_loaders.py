"""Loading pools: good files in three formats, and a one-line error for every bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from labelloop.datasets import (
    ColumnError,
    DataFileError,
    DuplicateIdError,
    EmptyTextError,
    FeatureValueError,
    LabelError,
    load_pool,
)

ROWS: list[Any] = [
    {"id": "a1", "text": "the cat sat", "x": 1.0, "label": "pet"},
    {"id": "a2", "text": "stocks fell", "x": 2.5, "label": "money"},
    {"id": "a3", "text": "dogs bark", "x": -1.0, "label": "pet"},
]


def write(tmp_path: Path, name: str, rows: list[Any] = ROWS) -> Path:
    path = tmp_path / name
    frame = pd.DataFrame(rows)
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("name", ["pool.csv", "pool.parquet", "pool.jsonl"])
def test_three_formats_load_the_same_pool(tmp_path: Path, name: str) -> None:
    pool = load_pool(
        write(tmp_path, name),
        id_column="id",
        text_column="text",
        feature_columns=["x"],
        label_column="label",
    )
    assert list(pool.ids) == ["a1", "a2", "a3"]
    assert pool.texts == ["the cat sat", "stocks fell", "dogs bark"]
    assert pool.features[:, 0].tolist() == [1.0, 2.5, -1.0]
    assert pool.classes == ["money", "pet"]
    assert pool.has_labels


def test_numeric_looking_ids_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,text,label\n007,a,x\n010,b,y\n")
    assert list(load_pool(path, id_column="id", text_column="text", label_column="label").ids) == [
        "007",
        "010",
    ]


def test_generated_ids_survive_reordering(tmp_path: Path) -> None:
    first = load_pool(write(tmp_path, "a.csv"), text_column="text", label_column="label")
    second = load_pool(
        write(tmp_path, "b.csv", ROWS[::-1]), text_column="text", label_column="label"
    )
    by_text_1 = dict(zip(first.texts, first.ids, strict=True))
    by_text_2 = dict(zip(second.texts, second.ids, strict=True))
    assert by_text_1 == by_text_2


def test_repeated_content_gets_distinct_generated_ids(tmp_path: Path) -> None:
    rows = [{"text": "same", "label": "a"}, {"text": "same", "label": "b"}]
    pool = load_pool(write(tmp_path, "d.csv", rows), text_column="text", label_column="label")
    assert len(set(pool.ids)) == 2


def test_missing_labels_are_allowed_but_flagged(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,text,label\n1,a,x\n2,b,\n3,c,y\n")
    pool = load_pool(path, id_column="id", text_column="text", label_column="label")
    assert pool.labels.tolist() == ["x", None, "y"]
    assert not pool.has_labels


def bad(tmp_path: Path, content: bytes, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "kwargs", "error", "fragment"),
    [
        (
            b"id,text,label\n1,a,x\n2,b,y\n",
            {"text_column": "body"},
            ColumnError,
            "column 'body' (text_column) not found; columns are: id, text, label",
        ),
        (
            b"id,text,label\n1,a,x\n1,b,y\n",
            {},
            DuplicateIdError,
            "duplicate id '1' in column 'id' (rows 1, 2)",
        ),
        (
            b"id,text,label\n1,a,x\n2,,y\n",
            {},
            EmptyTextError,
            "empty text in column 'text' for id '2' (row 2)",
        ),
        (
            b"id,text,label\n1,a,x\n2,   ,y\n",
            {},
            EmptyTextError,
            "empty text in column 'text' for id '2'",
        ),
        (
            b"id,text,label\n1,a,x\n2,b,x\n",
            {},
            LabelError,
            "label column 'label' has 1 class(es) ('x'); at least 2 are needed",
        ),
        (
            b"id,text,label\n1,caf\xe9,x\n2,b,y\n",
            {},
            DataFileError,
            "not valid UTF-8 (byte 0xe9 on line 2)",
        ),
        (b"id,text,label\n1,a,x,extra,more\n", {}, DataFileError, "cannot parse CSV"),
        (b"", {}, DataFileError, "the file is empty"),
    ],
)
def test_bad_csv_gives_one_line_error_naming_file_and_field(
    tmp_path: Path, content: bytes, kwargs: dict[str, str], error: type[Exception], fragment: str
) -> None:
    path = bad(tmp_path, content)
    arguments = {"id_column": "id", "text_column": "text", "label_column": "label", **kwargs}
    with pytest.raises(error) as info:
        load_pool(path, **arguments)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert fragment in message


def test_nan_text_in_parquet(tmp_path: Path) -> None:
    rows = [{"id": "1", "text": "ok", "label": "a"}, {"id": "2", "text": None, "label": "b"}]
    with pytest.raises(EmptyTextError, match="empty text in column 'text' for id '2'"):
        load_pool(
            write(tmp_path, "p.parquet", rows),
            id_column="id",
            text_column="text",
            label_column="label",
        )


def test_non_numeric_feature(tmp_path: Path) -> None:
    path = bad(tmp_path, b"id,x,label\n1,1.5,a\n2,abc,b\n")
    with pytest.raises(
        FeatureValueError,
        match=r"feature column 'x' has a non-numeric or missing value 'abc' for id '2'",
    ):
        load_pool(path, id_column="id", feature_columns=["x"], label_column="label")


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="data file not found"):
        load_pool(tmp_path / "nope.csv", text_column="text")
    path = bad(tmp_path, b"x", "pool.xlsx")
    with pytest.raises(DataFileError, match=r"unsupported file type '\.xlsx'"):
        load_pool(path, text_column="text")


def test_no_text_and_no_features(tmp_path: Path) -> None:
    with pytest.raises(ColumnError, match="name a text column or feature columns"):
        load_pool(write(tmp_path, "p.csv"), label_column="label")


def test_bad_jsonl_line(tmp_path: Path) -> None:
    path = bad(tmp_path, b'{"id": 1, "text": "a"}\n{"id": 2, "text": \n', "p.jsonl")
    with pytest.raises(DataFileError, match="line 2 is not valid JSON"):
        load_pool(path, id_column="id", text_column="text")


@pytest.mark.parametrize("name", ["labels.csv", "labels.jsonl", "labels.parquet"])
def test_missing_label_markers_mean_no_label(tmp_path: Path, name: str) -> None:
    marks = ["NaN", "N/A", "", "   ", "nan", "null", "n/a ", None]
    rows = [{"id": f"m{k}", "text": f"t{k}", "label": m} for k, m in enumerate(marks)]
    rows += [{"id": "a", "text": "x", "label": "sport"}, {"id": "b", "text": "y", "label": "tech"}]
    pool = load_pool(
        write(tmp_path, name, rows), id_column="id", text_column="text", label_column="label"
    )
    assert pool.classes == ["sport", "tech"]
    assert pool.labels.tolist() == [None] * len(marks) + ["sport", "tech"]


@pytest.mark.parametrize("name", ["labels.csv", "labels.jsonl", "labels.parquet"])
def test_numeric_labels_are_one_class_however_written(tmp_path: Path, name: str) -> None:
    labels: list[Any] = ["1", "1.0", " 1 ", "1e0", "2", "2.50", "2.5"]
    if not name.endswith(".csv"):
        labels += [1, 1.0, 2.5]
    rows = [{"id": f"i{k}", "text": f"t{k}", "label": v} for k, v in enumerate(labels)]
    if name.endswith(".parquet"):  # one type per Parquet column
        rows = [{**r, "label": str(r["label"])} for r in rows]
    pool = load_pool(
        write(tmp_path, name, rows), id_column="id", text_column="text", label_column="label"
    )
    assert pool.classes == ["1", "2", "2.5"]


@pytest.mark.parametrize(
    ("values", "classes"),
    [([1.0, 2.0, 1.0], ["1", "2"]), ([1, 2, 1], ["1", "2"]), ([1.5, 2.0, None], ["1.5", "2"])],
)
def test_numeric_parquet_labels(tmp_path: Path, values: list[Any], classes: list[str]) -> None:
    pd.DataFrame({"text": ["a", "b", "c"], "label": values}).to_parquet(tmp_path / "p.parquet")
    pool = load_pool(tmp_path / "p.parquet", text_column="text", label_column="label")
    assert pool.classes == classes


@pytest.mark.parametrize(
    ("labels", "clash"),
    [
        (["Sport", "sport", "tech"], "'Sport', 'sport'"),
        (["sci fi", "sci  fi", "drama"], "'sci  fi', 'sci fi'"),
        (["NEWS", "news", "News", "x"], "'NEWS', 'News', 'news'"),
    ],
)
def test_classes_that_differ_only_in_case_or_spacing_are_refused(
    tmp_path: Path, labels: list[str], clash: str
) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"text": [f"t{k}" for k in range(len(labels))], "label": labels}).to_csv(
        path, index=False
    )
    with pytest.raises(LabelError) as info:
        load_pool(path, text_column="text", label_column="label")
    message = str(info.value)
    assert message.startswith(
        f"{path}: column 'label' has values that differ only in case or spacing: {clash}"
    )
    assert "\n" not in message


@pytest.mark.parametrize(("value", "shown"), [([1, 2], "a list"), ({"a": 1}, "an object")])
def test_a_jsonl_label_that_is_a_list_or_object_is_one_line(
    tmp_path: Path, value: Any, shown: str
) -> None:
    rows = [
        {"id": "a", "text": "x", "label": "sport"},
        {"id": "b", "text": "y", "label": value},
        {"id": "c", "text": "z", "label": "tech"},
    ]
    path = write(tmp_path, "labels.jsonl", rows)
    with pytest.raises(LabelError) as info:
        load_pool(path, id_column="id", text_column="text", label_column="label")
    message = str(info.value)
    assert message.startswith(f"{path}: label column 'label' holds {shown} for id 'b' (row 2)")
    assert "\n" not in message

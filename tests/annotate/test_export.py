"""The export files: every format reads back to the same rows, awkward values included."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from labelloop.annotate.reporting.export import EXPORT_COLUMNS, read_export, write_export

AWKWARD = pd.DataFrame(
    {
        "item_id": ["007", "a,b", 'say "hi"', "naïve-ß", "x\ny"],
        "label": ["sports", "tech|business", "sports", "politique, étrangère", "NA"],
        "source": ["human", "consensus", "machine", "human", "machine"],
        "annotators": ["ann@x.org", "a@x.org;b@x.org", "", "ann@x.org", ""],
        "n_annotations": [1, 3, 0, 1, 0],
        "agreement": [1.0, 2 / 3, None, 1.0, None],
        "model_version": [None, "labelloop-p:v2", "labelloop-p:v3", None, "labelloop-p:v3"],
        "confidence": [None, 0.5123456789, 0.99, None, 0.975],
        "predicted": [None, "tech", "sports", None, "NA"],
        "evaluation": [True, False, False, False, False],
    }
)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_every_format_reads_back_the_same_rows(tmp_path: Path, fmt: str) -> None:
    path = write_export(AWKWARD, tmp_path / "sub" / f"labels.{fmt}", fmt)  # type: ignore[arg-type]
    back = read_export(path)
    assert list(back.columns) == list(EXPORT_COLUMNS)
    assert back["item_id"].tolist() == AWKWARD["item_id"].tolist()  # "007" stays a string
    assert back["label"].tolist() == AWKWARD["label"].tolist()  # "NA" stays a label
    assert back["source"].tolist() == AWKWARD["source"].tolist()
    assert back["n_annotations"].tolist() == AWKWARD["n_annotations"].tolist()
    assert back["evaluation"].tolist() == AWKWARD["evaluation"].tolist()
    pd.testing.assert_series_equal(
        back["confidence"].astype(float), AWKWARD["confidence"].astype(float)
    )
    assert back["annotators"].isna().tolist() == [False, False, True, False, True]
    assert back["model_version"].isna().tolist() == AWKWARD["model_version"].isna().tolist()
    assert not list(path.parent.glob(".*partial"))  # written atomically, nothing left over

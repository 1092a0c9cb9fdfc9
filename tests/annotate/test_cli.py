"""The command line: one-line errors with a non-zero exit, and `init` writing a usable config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from labelloop.annotate.cli.main import main

BAD_FILES = {
    "missing column": (
        b"id,body,label\n1,a,x\n2,b,y\n",
        ["--text-column", "text"],
        "column 'text' (text_column) not found",
    ),
    "duplicate ids": (b"id,text,label\n1,a,x\n1,b,y\n", [], "duplicate id '1' in column 'id'"),
    "empty text": (
        b"id,text,label\n1,a,x\n2,,y\n",
        ["--text-column", "text"],
        "empty text in column 'text' for id '2'",
    ),
    "undecodable bytes": (
        b"id,text,label\n1,\xff\xfe,x\n",
        [],
        "not valid UTF-8 (byte 0xff on line 2)",
    ),
    "one class": (b"id,text,label\n1,a,x\n2,b,x\n", [], "label column 'label' has 1 class(es)"),
    "case variants": (
        b"id,text,label\n1,a,Sport\n2,b,sport\n3,c,x\n",
        [],
        "column 'label' has values that differ only in case or spacing: 'Sport', 'sport'",
    ),
    "bad feature": (
        b"id,f,label\n1,0.5,x\n2,oops,y\n",
        ["--feature-columns", "f"],
        "feature column 'f' has a non-numeric",
    ),
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_init_rejects_bad_files_with_one_line(tmp_path: Path, case: str) -> None:
    content, extra, fragment = BAD_FILES[case]
    data = tmp_path / "pool.csv"
    data.write_bytes(content)
    code, _, err = run(
        "init",
        "p",
        "--data",
        str(data),
        "--label-column",
        "label",
        "--configs-dir",
        str(tmp_path / "c"),
        *extra,
    )
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert fragment in err
    assert not (tmp_path / "c" / "p.yaml").exists()


def test_init_missing_file(tmp_path: Path) -> None:
    code, _, err = run("init", "p", "--data", str(tmp_path / "nope.csv"), "--label-column", "label")
    assert code == 1 and "data file not found" in err


def test_simulate_with_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("name: bad\ndata: {source: 'bundled:wine'}\nbudget: 0\n")
    code, _, err = run("simulate", "--config", str(config), "--out", str(tmp_path / "out"))
    assert code == 1
    assert err.strip() == f"error: {config}: budget: Input should be greater than 0 (got 0)"
    assert not (tmp_path / "out").exists()


def test_simulate_with_unknown_strategy(tmp_path: Path) -> None:
    config = tmp_path / "ok.yaml"
    config.write_text("name: ok\ndata: {source: 'bundled:wine'}\nfeaturizer: {kind: numeric}\n")
    code, _, err = run(
        "simulate",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "o"),
        "--strategies",
        "margin,clever",
    )
    assert code == 2 and "unknown strategy 'clever'" in err


def test_simulate_data_without_labels(tmp_path: Path) -> None:
    data = tmp_path / "pool.csv"
    data.write_text("id,text,label\n1,a b,x\n2,b c,\n3,c d,y\n")
    config = tmp_path / "p.yaml"
    config.write_text(
        "name: p\ndata: {source: pool.csv, id_column: id, text_column: text, label_column: label}\n"
    )
    code, _, err = run("simulate", "--config", str(config), "--out", str(tmp_path / "o"))
    assert code == 1 and "simulation needs a gold label for every item" in err


def test_init_infers_and_the_config_loads(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    rows = ["id,stars,body,label"] + [
        f"r{k},{k % 5},this is review number {k},{'pos' if k % 2 else 'neg'}" for k in range(30)
    ]
    data.write_text("\n".join(rows) + "\n")
    code, out, err = run(
        "init",
        "reviews",
        "--data",
        str(data),
        "--label-column",
        "label",
        "--configs-dir",
        str(tmp_path / "configs"),
    )
    assert code == 0, err
    assert "30 items, text column 'body', 2 classes (neg, pos)" in out
    written = yaml.safe_load((tmp_path / "configs" / "reviews.yaml").read_text())
    assert written["data"]["id_column"] == "id"
    assert written["data"]["source"] == "../reviews.csv"
    assert written["featurizer"]["kind"] == "tfidf"
    code, _, err = run(
        "init",
        "reviews",
        "--data",
        str(data),
        "--label-column",
        "label",
        "--configs-dir",
        str(tmp_path / "configs"),
    )
    assert code == 1 and "config exists already; pass --force" in err


def test_init_numeric_columns(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("a,b,label\n" + "".join(f"{k},{k * 2},{k % 2}\n" for k in range(20)))
    code, out, _ = run(
        "init", "t", "--data", str(data), "--label-column", "label", "--configs-dir", str(tmp_path)
    )
    assert code == 0 and "2 feature columns" in out


def test_real_process_exit_code_and_stderr(tmp_path: Path) -> None:
    data = tmp_path / "pool.csv"
    data.write_bytes(b"id,text,label\n1,a,x\n1,b,y\n")
    exe = Path(sys.executable).parent / "labelloop"
    result = subprocess.run(
        [
            str(exe),
            "init",
            "p",
            "--data",
            str(data),
            "--label-column",
            "label",
            "--configs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {data}: duplicate id '1' in column 'id' (rows 1, 2); 1 id(s) are duplicated"
    ]


def test_export_format_must_match_the_file(tmp_path: Path) -> None:
    code, _, err = run(
        "export",
        "--config",
        str(Path(__file__).resolve().parents[2] / "configs" / "wine.yaml"),
        "--format",
        "parquet",
        "--out",
        str(tmp_path / "labels.csv"),
    )
    assert code == 2
    assert "labels.csv: a .csv file, but --format parquet" in err
    assert not (tmp_path / "labels.csv").exists()

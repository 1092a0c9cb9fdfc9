"""The k-means cold start on a pool too big to cluster whole."""

from __future__ import annotations

import numpy as np

from labelloop.learners import kmeans_cold_start


def test_the_kmeans_cold_start_of_a_big_pool_fits_on_a_sample_and_still_covers_it() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [40, 0], [0, 40], [40, 40], [20, 80]], dtype=np.float64)
    # Unequal regions: the smallest is 2% of the pool.
    sizes = [9_000, 6_000, 3_000, 1_600, 400]
    X = np.vstack(
        [c + rng.normal(0.0, 1.0, (size, 2)) for c, size in zip(centers, sizes, strict=True)]
    )
    region = np.repeat(np.arange(5), sizes)
    picks = kmeans_cold_start(None, X, 5, rng=np.random.default_rng(1), fit_at_most=2_000)
    assert sorted(region[picks.indices].tolist()) == [0, 1, 2, 3, 4]
    # Scores are each region's share of the whole pool, not of the sample.
    np.testing.assert_allclose(sorted(picks.scores), sorted(np.divide(sizes, 20_000)), atol=0.01)

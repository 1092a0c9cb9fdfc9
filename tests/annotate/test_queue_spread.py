"""Items drawn at random are served spread through the queue, not after every other."""

from __future__ import annotations

from typing import Any

from labelloop.annotate.loop.queue import spread_random_picks


def row(rank: int, score: float | None, route: str | None = None) -> dict[str, Any]:
    return {"batch_id": "b1", "rank": rank, "score": score, "route": route}


def test_random_picks_are_served_among_the_others_not_last() -> None:
    # Margin's eight picks, two drawn at random (the model is sure of them), three
    # evaluation items; Label Studio serves the lowest value first.
    rows = [row(k, 0.1 * k) for k in range(1, 9)] + [row(9, None), row(10, None)]
    rows += [row(11, None, "evaluation"), row(12, None, "evaluation"), row(13, None, "audit")]
    sure = [0.50, 0.52, 0.55, 0.58, 0.60, 0.63, 0.66, 0.70, 0.99, 0.98, 0.97, 0.40, 0.95]
    spread = spread_random_picks(rows, sure)
    served = sorted(range(len(rows)), key=lambda k: spread[k])
    # The two random picks come a third and two thirds of the way, in pick order ...
    assert served.index(8) in (4, 5) and served.index(9) in (8, 9), served
    assert served.index(8) < served.index(9)
    # ... and every other item keeps the champion's certainty.
    assert [spread[k] for k in range(len(rows)) if k not in (8, 9)] == [
        sure[k] for k in range(len(rows)) if k not in (8, 9)
    ]


def test_a_queue_without_random_picks_is_left_as_the_champion_scored_it() -> None:
    rows = [row(1, 0.3), row(2, 0.2), row(3, None, "evaluation"), {"rank": None, "score": None}]
    sure = [0.7, 0.6, 0.9, 0.5]
    assert spread_random_picks(rows, sure) == sure

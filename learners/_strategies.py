"""The strategy registry: every acquisition strategy by name, with what it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from labelloop.learners._committee import qbc_consensus_entropy, qbc_vote_entropy
from labelloop.learners._density import information_density_sampling
from labelloop.learners._diversity import (
    diverse_margin_sampling,
    kmeans_cold_start,
    ranked_batch_sampling,
)
from labelloop.learners._errors import UnknownStrategyError
from labelloop.learners._selection import Query
from labelloop.learners._types import Matrix
from labelloop.learners._uncertainty import (
    entropy_sampling,
    least_confidence_sampling,
    margin_sampling,
    random_sampling,
)

__all__ = ["COLD_START_STRATEGIES", "STRATEGIES", "QueryFunction", "Strategy", "get_strategy"]


class QueryFunction(Protocol):
    """``(model, X, n, *, rng, X_labelled) -> Query``: the shape of every strategy."""

    def __call__(
        self,
        model: Any,
        X: Matrix,
        n: int,
        *,
        rng: np.random.Generator,
        X_labelled: Matrix | None = None,
    ) -> Query:
        """Pick ``n`` rows of ``X``; never changes ``model``."""
        ...


@dataclass(frozen=True)
class Strategy:
    """A named acquisition strategy.

    Attributes
    ----------
    name : str
        The name used in configs and on the command line.
    query : QueryFunction
        The function that picks rows.
    summary : str
        One line for ``--help`` and reports.
    needs_model : bool
        False for strategies that work with no labels at all (cold start, random).
    committee : bool
        True when the model must be a :class:`~learners.BaggingCommittee`.
    """

    name: str
    query: QueryFunction
    summary: str
    needs_model: bool = True
    committee: bool = False


_ALL = (
    Strategy("random", random_sampling, "uniformly at random (baseline)", needs_model=False),
    Strategy(
        "least_confidence",
        least_confidence_sampling,
        "lowest top-class probability; copies of an input last",
    ),
    Strategy(
        "margin",
        margin_sampling,
        "smallest gap between the two best classes; copies of an input last",
    ),
    Strategy("entropy", entropy_sampling, "highest predictive entropy; copies of an input last"),
    Strategy(
        "qbc_vote_entropy", qbc_vote_entropy, "committee vote entropy (modAL)", committee=True
    ),
    Strategy(
        "qbc_consensus_entropy",
        qbc_consensus_entropy,
        "committee consensus entropy (modAL)",
        committee=True,
    ),
    Strategy(
        "information_density",
        information_density_sampling,
        "entropy x representativeness (modAL.density)",
    ),
    Strategy("ranked_batch", ranked_batch_sampling, "ranked batch-mode diversity (modAL.batch)"),
    Strategy(
        "diverse_margin",
        diverse_margin_sampling,
        "margin candidates spread by k-center greedy; scales to 1M items",
    ),
    Strategy(
        "kmeans",
        kmeans_cold_start,
        "items nearest k-means centroids (cold start)",
        needs_model=False,
    ),
)

STRATEGIES: Mapping[str, Strategy] = MappingProxyType({s.name: s for s in _ALL})
COLD_START_STRATEGIES: tuple[str, ...] = tuple(s.name for s in _ALL if not s.needs_model)


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name.

    Raises
    ------
    UnknownStrategyError
        Naming the unknown strategy and listing the known ones.

    Examples
    --------
    >>> get_strategy("margin").summary
    'smallest gap between the two best classes; copies of an input last'
    """
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UnknownStrategyError(
            f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}"
        ) from None

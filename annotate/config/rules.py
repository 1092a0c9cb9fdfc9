"""Always-human rules: checked against the data when a project opens, applied to its rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelloop.annotate.config.schema import HumanRule, ProjectConfig
from labelloop.annotate.errors import ConfigError
from labelloop.datasets import Pool

__all__ = ["check_routing", "human_rule_mask"]


def check_routing(config: ProjectConfig, pool: Pool, labels: Sequence[str]) -> None:
    """Check the routing section against the pool and the label set (when routing is on).

    Raises
    ------
    ConfigError
        Naming the field: an always-human class that is not a label, a rule on a column
        the data does not have, or routing on a multi-label project.
    """
    routing = config.routing
    if config.labelling.multiple:
        raise ConfigError("routing.enabled: routing needs single-label items (labelling.multiple)")
    for label in routing.always_human_classes:
        if label not in labels:
            raise ConfigError(
                f"routing.always_human_classes: {label!r} is not a label ({', '.join(labels)})"
            )
    for k, rule in enumerate(routing.always_human):
        if rule.column not in pool.frame.columns:
            known = ", ".join(map(str, pool.frame.columns))
            raise ConfigError(
                f"routing.always_human.{k}.column: {rule.column!r} is not a column of "
                f"{pool.source} (columns: {known})"
            )


def human_rule_mask(frame: pd.DataFrame, rules: Sequence[HumanRule]) -> NDArray[np.bool_]:
    """Return, for each row of ``frame``, whether any rule keeps it for people.

    Examples
    --------
    >>> frame = pd.DataFrame({"source": ["web", "clinic", "web"], "amount": [5, 50, 500]})
    >>> rules = [HumanRule(column="source", equals="clinic"), HumanRule(column="amount",
    ...          at_least=100)]
    >>> human_rule_mask(frame, rules).tolist()
    [False, True, True]
    """
    mask = np.zeros(len(frame), dtype=bool)
    for rule in rules:
        column = frame[rule.column]
        if rule.equals is not None:
            hit = column == rule.equals
        elif rule.one_of is not None:
            hit = column.isin(list(rule.one_of))
        elif rule.matches is not None:
            hit = column.astype(str).str.contains(rule.matches, regex=True, na=False)
        else:
            numbers = pd.to_numeric(column, errors="coerce")
            hit = numbers >= rule.at_least if rule.at_least is not None else numbers <= rule.at_most
        mask |= hit.fillna(False).to_numpy(dtype=bool)
    return mask

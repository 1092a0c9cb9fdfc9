"""Always-human rules: checked against the data when a project opens, applied to its rows."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelloop.annotate.config.schema import HumanRule, ProjectConfig, RoutingConfig
from labelloop.annotate.errors import ConfigError
from labelloop.datasets import Pool

__all__ = ["check_routing", "comparable", "human_rule_mask"]


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

    Values compare the way they are meant, whatever the column's type: a number equals
    a number of the same value (``"5"``, ``5`` and ``5.0`` all equal ``5``), and text
    equals text ignoring case and surrounding spaces (``"Enterprise "`` equals
    ``"enterprise"``). ``at_least`` and ``at_most`` read numbers the same way; ``matches``
    searches the value as written. Missing values match no rule.

    Examples
    --------
    >>> frame = pd.DataFrame({"source": ["web", " Clinic", "web"], "amount": ["5", "50", "500"]})
    >>> rules = [HumanRule(column="source", equals="clinic"), HumanRule(column="amount",
    ...          one_of=(500,))]
    >>> human_rule_mask(frame, rules).tolist()
    [False, True, True]
    """
    mask = np.zeros(len(frame), dtype=bool)
    for rule in rules:
        mask |= _rule_hits(frame[rule.column], rule)
    return mask


def comparable(value: object) -> Decimal | str | None:
    """Return the form in which a rule compares ``value``: a number, folded text, or None.

    Numbers (and text that spells a finite decimal number) become exact decimals, so
    ``"5"``, ``5`` and ``5.0`` compare equal and large integers keep every digit; other
    text is stripped of surrounding whitespace and case-folded; booleans become
    ``"true"`` or ``"false"``; missing values (None, NaN, blank text) become None.

    Examples
    --------
    >>> comparable(" 5.0 ") == comparable(5) == comparable(5.0)
    True
    >>> comparable(" Enterprise "), comparable(True), comparable("  "), comparable(None)
    ('enterprise', 'true', None, None)
    """
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return Decimal(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None if math.isnan(value) else str(value)
        return Decimal(repr(float(value)) if isinstance(value, float) else str(value))
    text = str(value).strip()
    if not text:
        return None
    if _DECIMAL.fullmatch(text):
        return Decimal(text)
    return text.casefold()


_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _rule_hits(column: pd.Series, rule: HumanRule) -> NDArray[np.bool_]:
    # Each distinct value is compared once, as written (rule columns are usually
    # categories); as text, so that True and 1, which hash alike, stay apart.
    present = ~column.isna().to_numpy(dtype=bool)
    codes, uniques = pd.factorize(column[present].astype(str))
    keys = [comparable(v) for v in uniques]
    if rule.equals is not None or rule.one_of is not None:
        wanted = {comparable(v) for v in ((rule.equals,) if rule.one_of is None else rule.one_of)}
        wanted.discard(None)
        hits = [k is not None and k in wanted for k in keys]
    elif rule.matches is not None:
        pattern = re.compile(rule.matches)
        hits = [
            k is not None and pattern.search(v) is not None
            for k, v in zip(keys, uniques, strict=True)
        ]
    else:
        bound = Decimal(repr(rule.at_least if rule.at_least is not None else rule.at_most))
        above = rule.at_least is not None
        hits = [isinstance(k, Decimal) and (k >= bound if above else k <= bound) for k in keys]
    out = np.zeros(len(column), dtype=bool)
    out[present] = np.asarray(hits, dtype=bool)[codes]
    return out


def route_by_config(
    routing: RoutingConfig,
    proba: NDArray[np.floating[Any]],
    labels: Sequence[str],
    thresholds: dict[str, Any],
    rows: pd.DataFrame,
    *,
    auto_allowed: bool,
) -> Any:
    """Route items by their probabilities under a project's routing settings.

    ``rows`` are the items' raw rows, in the order of ``proba`` (read by the
    always-human rules); ``auto_allowed`` is False while audits suspend automatic
    labelling, or for items people will see anyway.

    Returns
    -------
    labelloop.learners.Routing
    """
    from labelloop.learners import route_items

    return route_items(
        proba,
        labels,
        thresholds,
        review_min_confidence=routing.review_min_confidence,
        always_human=human_rule_mask(rows, routing.always_human),
        always_human_classes=routing.always_human_classes,
        auto_allowed=auto_allowed,
    )

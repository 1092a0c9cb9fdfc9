"""Always-human rules match values the way people write them, whatever the column's type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from labelloop.annotate.config.rules import comparable, human_rule_mask
from labelloop.annotate.config.schema import HumanRule
from labelloop.datasets import load_pool


def hits(values: list[Any], **test: Any) -> list[bool]:
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    return human_rule_mask(frame, [HumanRule(column="c", **test)]).tolist()


def test_numeric_rules_match_a_csv_column_of_text(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        "id,text,priority,plan\n"
        "1,a,5,Enterprise\n"
        "2,b,5.0,enterprise \n"
        "3,c, 5 ,ENTERPRISE\n"
        "4,d,6,free\n"
        "5,e,,\n"
    )
    frame = load_pool(path, id_column="id", text_column="text").frame
    expected = [True, True, True, False, False]
    for rule in (
        HumanRule(column="priority", equals=5),
        HumanRule(column="priority", equals=5.0),
        HumanRule(column="priority", equals="5"),
        HumanRule(column="priority", one_of=(5,)),
        HumanRule(column="priority", one_of=(4, 5.0)),
        HumanRule(column="plan", equals="enterprise"),
        HumanRule(column="plan", one_of=(" Enterprise",)),
    ):
        assert human_rule_mask(frame, [rule]).tolist() == expected, rule
    assert human_rule_mask(frame, [HumanRule(column="priority", at_least=5.5)]).tolist() == [
        False,
        False,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("values", "test", "expected"),
    [
        # numbers of every type and spelling
        (
            [5, 5.0, np.int64(5), np.float32(5.0), "5", "+5", "5.", "05", "5e0"],
            {"equals": 5},
            [1] * 9,
        ),
        ([5, "5", "5.5", 50, "five", "5 apples"], {"equals": "5"}, [1, 1, 0, 0, 0, 0]),
        ([0.1, "0.1", ".1", "0.10", 0.1 + 0.2], {"equals": 0.1}, [1, 1, 1, 1, 0]),
        # integers too large for a float keep every digit
        (["9007199254740993", 9007199254740992], {"equals": 9007199254740993}, [1, 0]),
        # text: case and surrounding whitespace do not matter, inner spaces do
        (["VIP", " vip\t", "v i p", "vip!", "\u00a0Vip\u00a0"], {"equals": "vip"}, [1, 1, 0, 0, 1]),
        (["Straße", "STRASSE", "strasse"], {"equals": "straße"}, [1, 1, 1]),
        # booleans are true/false, not 1/0
        ([True, "true", " TRUE ", 1, "1", False], {"equals": True}, [1, 1, 1, 0, 0, 0]),
        # missing values match nothing, not even a rule for the empty text
        ([None, np.nan, "", "  ", pd.NA], {"equals": ""}, [0] * 5),
        ([None, np.nan, "", "nan"], {"matches": "n"}, [0, 0, 0, 1]),
        # bounds read numbers written as text, and ignore what is not a number
        (["100", " 99.5", 101, "abc", None, "1e3"], {"at_least": 100}, [1, 0, 1, 0, 0, 1]),
        (["-1", -2.5, "0", "zero"], {"at_most": -1}, [1, 1, 0, 0]),
        # one_of mixes numbers and text
        (["Gold", "2", 3.0, "silver"], {"one_of": ("gold", 2, "3")}, [1, 1, 1, 0]),
        # unhashable values (JSONL lists) do not crash the check
        ([[5], {"a": 5}, 5], {"equals": 5}, [0, 0, 1]),
    ],
)
def test_awkward_values(values: list[Any], test: dict[str, Any], expected: list[int]) -> None:
    assert hits(values, **test) == [bool(e) for e in expected]


numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(numbers)
def test_a_number_matches_every_spelling_of_itself(number: int | float) -> None:
    spellings: list[Any] = [number, str(number), f"  {number} ", repr(number)]
    if isinstance(number, int) and abs(number) < 2**53:
        spellings += [float(number), f"{number}.0", np.int64(number)]
    assert all(hits(spellings, equals=number))
    assert all(hits(spellings, one_of=(str(number),)))
    assert not any(hits([str(number) + "1", f"{number}x"], equals=number))


@given(
    st.text(min_size=1, max_size=20),
    st.text(" \t\n\u00a0", max_size=3),
    st.text(" \t\n\u00a0", max_size=3),
    st.randoms(use_true_random=False),
)
def test_text_matches_whatever_its_case_and_padding(
    text: str, before: str, after: str, rng: Any
) -> None:
    assume(comparable(text) is not None)
    shouted = "".join(c.upper() if c.isascii() and rng.random() < 0.5 else c for c in text)
    assert hits([before + shouted + after], equals=text) == [True]
    assert hits([before + shouted + after], one_of=("other", text)) == [True]

"""The amount grammar of SPEC.md ("Amounts: a comma or dot followed by 1–2 digits is the
decimal separator; spaces and a thousands separator followed by 3 digits are grouping")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.amounts import AmountError, AmountProblem, parse_amount, parse_points

MAX = Decimal("1000000")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1500", "1500.00"),
        ("1 500,50", "1500.50"),
        ("1,500.50", "1500.50"),
        ("1500.50", "1500.50"),
        ("1.500,50", "1500.50"),
        ("1,5", "1.50"),
        ("1 500", "1500.00"),
        ("1\u00a0500,5", "1500.50"),
        ("1.500", "1500.00"),
        ("0.01", "0.01"),
    ],
)
def test_accepted(text: str, value: str) -> None:
    assert parse_amount(text, MAX) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", AmountProblem.EMPTY),
        ("-5", AmountProblem.NOT_POSITIVE),
        ("0", AmountProblem.NOT_POSITIVE),
        ("1e309", AmountProblem.MALFORMED),
        ("NaN", AmountProblem.MALFORMED),
        ("Infinity", AmountProblem.MALFORMED),
        ("1,5000", AmountProblem.AMBIGUOUS),
        ("1.500.50", AmountProblem.AMBIGUOUS),
        ("1,50,0", AmountProblem.AMBIGUOUS),
        ("12,345,67", AmountProblem.AMBIGUOUS),
        ("1000000.01", AmountProblem.TOO_LARGE),
        ("٣٤", AmountProblem.MALFORMED),
        ("1_000", AmountProblem.MALFORMED),
        ("0x10", AmountProblem.MALFORMED),
    ],
)
def test_refused(text: str, problem: AmountProblem) -> None:
    with pytest.raises(AmountError) as err:
        parse_amount(text, MAX)
    assert err.value.problem == problem


@given(st.decimals(min_value=Decimal("0.01"), max_value=MAX, places=2))
def test_grouped_formats_round_trip(value: Decimal) -> None:
    """Any amount written the Russian way or the English way parses back to itself."""
    english = f"{value:,.2f}"
    russian = english.replace(",", " ").replace(".", ",")
    assert parse_amount(english, MAX) == value
    assert parse_amount(russian, MAX) == value


def test_points() -> None:
    assert parse_points("200") == 200 and parse_points("-50", signed=True) == -50
    for bad in ("+5", "1.5", "0", "", "1e3", "9" * 10):
        with pytest.raises(AmountError):
            parse_points(bad)

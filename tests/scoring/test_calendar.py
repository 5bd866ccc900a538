"""Calendar months (scoring.calendar): the one definition of month arithmetic."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest

from scoring.calendar import DAYS_PER_MONTH, add_months, add_months_to_days, calendar_months

EPOCH = date(1970, 1, 1)


def _day(d: date) -> int:
    return (d - EPOCH).days


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2023, 11, 26), date(2023, 11, 26), 0.0),
        (date(2023, 11, 26), date(2024, 5, 26), 6.0),  # half a year: a whole 6
        (date(2023, 11, 26), date(2024, 11, 26), 12.0),  # first anniversary
        (date(2023, 11, 26), date(2025, 11, 26), 24.0),  # second anniversary
        (date(2023, 11, 26), date(2026, 11, 26), 36.0),  # third anniversary
        (date(2023, 11, 26), date(2026, 11, 27), 36 + 1 / 30),  # a day more (26 Nov-26 Dec: 30)
        (date(2024, 1, 31), date(2024, 2, 29), 1.0),  # clamped: 31 Jan + 1 month = 29 Feb
        (date(2025, 1, 31), date(2025, 2, 28), 1.0),
        (date(2024, 2, 29), date(2025, 2, 28), 12.0),  # a leap day's anniversary
        (date(2024, 3, 10), date(2024, 3, 5), 0.0),  # end before start: nothing
    ],
)
def test_calendar_months(start: date, end: date, months: float) -> None:
    """Anniversaries are whole numbers of months; the fraction is days into the next step."""
    got = calendar_months(np.array([_day(start)]), np.array([_day(end)]))
    assert got.tolist() == [pytest.approx(months)]


def test_add_months_clamps_and_agrees_with_the_array_form() -> None:
    assert add_months(datetime(2026, 1, 31, 10), 1) == datetime(2026, 2, 28, 10)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 15), -12) == date(2025, 1, 15)
    starts = [date(2024, 1, 31), date(2023, 12, 15), date(2024, 2, 29)]
    for k in (-13, -1, 0, 1, 11, 12):
        arrays = add_months_to_days([_day(d) for d in starts], k).tolist()
        assert arrays == [_day(add_months(d, k)) for d in starts]


def test_one_average_month() -> None:
    """The average month (rates per month only) is a twelfth of 365.25 days."""
    assert DAYS_PER_MONTH == 365.25 / 12

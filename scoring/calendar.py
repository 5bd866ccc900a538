"""Calendar months: the one definition of a month's length and of month arithmetic.

Two different things are called "a month" in the product, and each has one definition:

- A calendar step (``add_months``, ``calendar_months``): the same day number in another
  month, clamped to that month's last day (31 Jan + 1 month = 28/29 Feb). Anniversaries,
  the tiers' rolling window, points expiry, the trailing months of the rating scale and
  the length of cooperation are calendar steps: a customer who joined on 26 Nov 2023 has
  cooperated exactly 12 months on 26 Nov 2024 and exactly 36 months on 26 Nov 2026.
- An average length (``DAYS_PER_MONTH`` = 365.25 / 12 days, the Julian year's twelfth):
  only to express a rate per month (CLV periods, average monthly spend), where no
  calendar date is involved.

Pure functions on ``date``/``datetime`` and on numpy arrays of day numbers (days since
1970-01-01); no time zones here: callers pass local days or local datetimes.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # numpy loads on first use, not with the bot's start
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

DAYS_PER_MONTH = 365.25 / 12

Moment = TypeVar("Moment", date, datetime)


def add_months(moment: Moment, months: int) -> Moment:
    """``moment`` moved by whole calendar months (negative: back), the day clamped (31 -> 30)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, _calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _month_and_day(days: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Month index (months since 1970-01) and day of month (1-31) of day numbers."""
    import numpy as np

    as_days = days.astype("datetime64[D]")
    month = as_days.astype("datetime64[M]")
    day = (as_days - month.astype("datetime64[D]")).astype(np.int64) + 1
    return month.astype(np.int64), day


def add_months_to_days(days: ArrayLike, months: ArrayLike) -> NDArray[np.int64]:
    """``add_months`` on arrays of day numbers (vectorised)."""
    import numpy as np

    month, day = _month_and_day(np.asarray(days, dtype=np.int64))
    target = month + np.asarray(months, dtype=np.int64)
    first = target.astype("datetime64[M]").astype("datetime64[D]")
    length = ((target + 1).astype("datetime64[M]").astype("datetime64[D]") - first).astype(np.int64)
    return first.astype(np.int64) + np.minimum(day, length) - 1


def calendar_months(start_days: ArrayLike, end_days: ArrayLike) -> NDArray[np.float64]:
    """Months from ``start`` to ``end`` (day numbers) in calendar steps, vectorised.

    The whole part is the number n of calendar steps with ``add_months(start, n) <= end``;
    the fraction is how far ``end`` lies into the next step, in days of that step. So
    anniversaries are whole numbers (12.0, 24.0, 36.0) and the day after the third one is
    36 + 1/30 or so: "more than 36 months". ``end`` before ``start`` gives 0.
    """
    import numpy as np

    start = np.asarray(start_days, dtype=np.int64)
    end = np.maximum(np.asarray(end_days, dtype=np.int64), start)
    start_month, _ = _month_and_day(start)
    end_month, _ = _month_and_day(end)
    whole = end_month - start_month
    whole = np.where(add_months_to_days(start, whole) > end, whole - 1, whole)
    low = add_months_to_days(start, whole)
    high = add_months_to_days(start, whole + 1)
    return whole + (end - low) / (high - low)

"""Equal groups by midpoint rank: the counting path for whole numbers gives exactly what
the sorting path gives (seed 002: «разбиваются на пять равных групп»)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring._ranking import equal_groups


def _sorted_path(values: list[float], n_groups: int) -> list[int]:
    """The same values shifted by a non-integer: only the sorting path can take them."""
    return equal_groups(np.asarray(values, dtype=np.float64) + 0.5, n_groups).tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=-50, max_value=50), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=7),
)
def test_counting_path_equals_sorting_path(values: list[int], n_groups: int) -> None:
    counted = equal_groups(values, n_groups).tolist()
    assert counted == _sorted_path(values, n_groups)


def test_counting_path_hand_computed() -> None:
    """Ten customers, days since the last purchase 0..4 twice each: each tie pair's
    midpoint rank falls in its own fifth."""
    days = [4, 3, 2, 1, 0, 0, 1, 2, 3, 4]
    assert equal_groups(days, 5).tolist() == [4, 3, 2, 1, 0, 0, 1, 2, 3, 4]


def test_wide_range_of_whole_numbers_is_sorted_not_counted() -> None:
    """A range far wider than the count (the bincount would be huge) takes the sorting
    path and still groups correctly."""
    values = [0.0, 1e12, 2e12, 3e12, 4e12]
    assert equal_groups(values, 5).tolist() == [0, 1, 2, 3, 4]

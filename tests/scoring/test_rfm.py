"""RFM ("FRM") scoring against seed 002 and the documented tie / small-n rules."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.rfm import DEFAULT_SEGMENT_RULES, SegmentRule, rfm_scores, segment_grid


def test_recency_five_equal_groups_most_recent_scores_5() -> None:
    """Seed 002_5ddba62783fdb83f.txt, FRM method, R:

    "1.1 .Все клиенты сортируются в порядке возрастания срока, прошедшего со
    времени последней покупки / 1.2. В зависимости от «срока давности» они делятся
    на 5 равных групп / 1.3. Каждому клиенту в группе дается оценка (5-клиенты,
    совершившие недавние покупки…1-клиенты последней группы, которые совершили
    покупку давно)".
    Ten customers, 1..10 days since the last purchase: two per group, days 1-2 -> 5.
    """
    days = np.arange(1, 11, dtype=float)
    result = rfm_scores(days, np.ones(10), np.ones(10))
    assert result.recency.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_frequency_most_purchases_scores_5() -> None:
    """Seed 002: "2. Оценка F (frequency) ... сортируются в порядке убывания количества
    покупок ... делятся а 5 равных групп ... (5-клиенты с наибольшей частотой
    покупок; 4 –меньшая частота покупки и т.д.)". Five customers, 1..5 purchases."""
    result = rfm_scores(np.zeros(5), [3, 1, 5, 2, 4], np.ones(5))
    assert result.frequency.tolist() == [3, 1, 5, 2, 4]


def test_monetary_uses_average_purchase_value_not_total() -> None:
    """Seed 002: "3.1 .Все клиенты сортируются в порядке убывания средней стоимости
    покупки ... 3.3. Все клиенты из первой группы (с наибольшей стоимостью покупки
    получают оценку 5". Customer A: 10 purchases of 100 (total 1000, average 100);
    customer B: 1 purchase of 500 (total 500, average 500). By average, B ranks
    above A although A's total is larger."""
    n_purchases = np.array([10, 1])
    totals = np.array([1000.0, 500.0])
    result = rfm_scores(np.zeros(2), n_purchases, totals / n_purchases)
    assert result.monetary[1] > result.monetary[0]


def test_code_555_is_best_and_111_is_worst() -> None:
    """Seed 002: "Каждый клиент получает трехзначную оценку в зависимости от
    комбинации FRM. Клиенты, получившие FRM – 555, являются наиболее ценными.
    Клиенты с FRM – 111 – наименее. Всего может быть 125 возможных комбинаций".
    Five customers where the first is best on all three and the last worst."""
    days = [1.0, 2.0, 3.0, 4.0, 5.0]
    count = [5, 4, 3, 2, 1]
    avg = [50.0, 40.0, 30.0, 20.0, 10.0]
    result = rfm_scores(days, count, avg)
    assert result.code_text() == ["555", "444", "333", "222", "111"]
    assert result.code.tolist() == [555, 444, 333, 222, 111]


def test_all_125_codes_are_reachable() -> None:
    """Seed 002: "Всего может быть 125 возможных комбинаций". With 125 customers whose
    R, F, M ranks are independent base-5 digits every code 111..555 occurs once."""
    i = np.arange(125)
    r_digit, f_digit, m_digit = i // 25, (i // 5) % 5, i % 5
    # each digit value appears 25 times -> exactly one quintile per digit value
    result = rfm_scores(-r_digit.astype(float), f_digit + 1, m_digit.astype(float))
    assert len(set(result.code.tolist())) == 125
    assert result.code.min() == 111 and result.code.max() == 555


def test_ties_get_equal_scores_hand_computed() -> None:
    """Ties: equal values MUST get equal scores (midpoint-rank rule).

    Purchases [1,1,1,1,2,3,4,5,6,7], n = 10. Midpoint m = (2*below + k) / 20:
    ones: (0 + 4)/20 = 0.20 -> 1 + floor(1.00) = 2; 2: 9/20 = .45 -> 1 + 2 = 3;
    3: 11/20 = .55 -> 3; 4: .65 -> 4; 5: .75 -> 4; 6: .85 -> 5; 7: .95 -> 5.
    """
    count = [1, 1, 1, 1, 2, 3, 4, 5, 6, 7]
    result = rfm_scores(np.zeros(10), count, np.ones(10))
    assert result.frequency.tolist() == [2, 2, 2, 2, 3, 3, 4, 4, 5, 5]


def test_all_equal_values_land_in_the_middle() -> None:
    """No spread means no information: everyone gets 3 (midpoint 0.5)."""
    result = rfm_scores(np.full(7, 10.0), np.full(7, 2), np.full(7, 99.0))
    assert set(result.code.tolist()) == {333}


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, [3]),  # m = 0.5
        (2, [2, 4]),  # m = 0.25, 0.75
        (3, [1, 3, 5]),  # 1/6, 1/2, 5/6
        (4, [1, 2, 4, 5]),  # .125, .375, .625, .875
        (5, [1, 2, 3, 4, 5]),  # the seed's five groups exactly
    ],
)
def test_fewer_than_five_customers_spread_symmetrically(n: int, expected: list[int]) -> None:
    """Fewer than 5 customers: midpoints (2i + 1) / (2n) -> 1 + floor(5 m), hand-computed."""
    result = rfm_scores(np.zeros(n), np.arange(1, n + 1), np.ones(n))
    assert result.frequency.tolist() == expected


def test_customers_without_purchases_are_not_ranked() -> None:
    """Never bought: scores 0, code None, segment 'no_purchases'; NaN inputs allowed;
    the buyers are ranked among themselves only (2 buyers -> 2 and 4)."""
    result = rfm_scores([np.nan, 3.0, 1.0], [0, 2, 1], [np.nan, 10.0, 20.0])
    assert result.recency.tolist() == [0, 2, 4]
    assert result.frequency.tolist() == [0, 4, 2]
    assert result.code_text()[0] is None
    assert result.segment_labels()[0] == "no_purchases"
    assert result.has_purchases.tolist() == [False, True, True]
    assert result.n_ranked == 2


def test_empty_and_single_customer() -> None:
    """Empty input gives empty arrays; one customer is scored 333 (no comparison)."""
    empty = rfm_scores([], [], [])
    assert empty.code.size == 0 and empty.segment_labels() == []
    single = rfm_scores([4.0], [3], [250.0])
    assert single.code_text() == ["333"]


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="length"):
        rfm_scores([1.0, 2.0], [1], [1.0])
    with pytest.raises(ValueError, match="non-negative integers"):
        rfm_scores([1.0], [-1], [1.0])
    with pytest.raises(ValueError, match="finite"):
        rfm_scores([np.nan], [2], [1.0])


def test_segment_table_maps_each_of_25_cells_exactly_once() -> None:
    """Every (R, F) cell 1..5 x 1..5 belongs to exactly one named segment."""
    cells = Counter(cell for rule in DEFAULT_SEGMENT_RULES for cell in rule.cells)
    assert set(cells) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert all(count == 1 for count in cells.values())
    names = [rule.name for rule in DEFAULT_SEGMENT_RULES]
    assert len(names) == len(set(names)) == 11


def test_segment_examples() -> None:
    """Best recent frequent buyer -> champions; oldest rarest -> lost; recent
    one-timer -> new; frequent but long gone -> cant_lose."""
    grid, names = segment_grid(DEFAULT_SEGMENT_RULES)
    assert names[grid[5, 5]] == "champions"
    assert names[grid[1, 1]] == "lost"
    assert names[grid[5, 1]] == "new"
    assert names[grid[1, 5]] == "cant_lose"
    assert names[grid[0, 3]] == "no_purchases"


def test_custom_segment_table_with_gap_or_overlap_is_rejected() -> None:
    gap = DEFAULT_SEGMENT_RULES[:-1]  # drops "lost" = (1, 1)
    with pytest.raises(ValueError, match=r"not mapped.*\(1, 1\)"):
        segment_grid(gap)
    overlap = (*DEFAULT_SEGMENT_RULES, SegmentRule("extra", ((3, 3),)))
    with pytest.raises(ValueError, match="mapped twice"):
        segment_grid(overlap)
    with pytest.raises(ValueError, match="outside"):
        segment_grid((*DEFAULT_SEGMENT_RULES[:-1], SegmentRule("lost", ((1, 1), (6, 1)))))


values = st.lists(
    st.tuples(
        st.integers(0, 400),  # days since last
        st.integers(1, 30),  # purchases
        st.integers(1, 50),  # average value (integers -> many ties)
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(values)
def test_property_scores_in_range_monotone_and_tie_equal(rows: list[tuple[int, int, int]]) -> None:
    """For any buyers: every score is in 1..5; a better value never scores lower;
    equal values score equal; the result does not depend on the input order."""
    days, count, avg = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    result = rfm_scores(days, count, avg)
    for score, value in (
        (result.recency, -days),
        (result.frequency, count),
        (result.monetary, avg),
    ):
        assert score.min() >= 1 and score.max() <= 5
        order = np.argsort(value, kind="stable")
        assert np.all(np.diff(score[order].astype(int)) >= 0)
        same = value[:, None] == value[None, :]
        assert np.all((score[:, None] == score[None, :])[same])
    perm = np.random.default_rng(len(rows)).permutation(len(rows))
    shuffled = rfm_scores(days[perm], count[perm], avg[perm])
    assert np.array_equal(shuffled.code, result.code[perm])

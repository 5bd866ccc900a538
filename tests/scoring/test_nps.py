"""NPS by hand (``scoring.nps``): seed 004 counts "количество рекомендаций от существующих
клиентов" among the key metrics; promoters 9-10 minus detractors 0-6, in points."""

from __future__ import annotations

import pytest

from scoring.nps import nps_of


def test_the_boundaries_of_promoters_passives_and_detractors() -> None:
    """0 and 6 detract, 7 and 8 are passive, 9 and 10 promote: (2 - 2) / 6 = 0."""
    result = nps_of([(0, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1)])
    assert (result.promoters, result.passives, result.detractors) == (2, 2, 2)
    assert result.score == 0


def test_counts_by_hand_and_no_answers() -> None:
    """Three 10s, one 8, one 3 (counted twice, as two groups): (3 - 2) / 6 = 16.7."""
    assert nps_of([(10, 3), (8, 1), (3, 1), (3, 1)]).score == pytest.approx(100 / 6)
    assert nps_of([]).score is None and nps_of([]).responses == 0


@pytest.mark.parametrize("bad", [-1, 11])
def test_a_score_off_the_scale_is_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        nps_of([(bad, 1)])

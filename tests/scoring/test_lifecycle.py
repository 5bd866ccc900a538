"""The evolution ladder of seed 002 ("Эволюция потребителя") with the product's thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.lifecycle import STAGE_NAMES, LifecycleThresholds, Stage, lifecycle_stages

NAN = float("nan")


def stages(rows: list[tuple[float, float, float, float]], **kwargs: object) -> list[str]:
    count, first, last, interval = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    return lifecycle_stages(count, first, last, interval, **kwargs).stage_labels()  # type: ignore[arg-type]


def test_ladder_order_is_the_seeds() -> None:
    """Seed 002_5ddba62783fdb83f.txt, figure "Эволюция потребителя": "Потенциальные
    потребители", "Впервые обратившиеся потребители", "Повторно обратившиеся
    потребители", "Клиенты", "Надежные друзья", "Партнеры", and the side branch
    "Пассивные или бывшие заказчики"."""
    assert STAGE_NAMES == (
        "potential",
        "first_time",
        "repeat",
        "client",
        "reliable_friend",
        "partner",
        "lapsed",
    )


def test_each_rung_with_default_thresholds() -> None:
    """Defaults: repeat from 2 purchases, client from 4, reliable friend from 8 and
    180 days, partner from 15 and 365 days. Everyone bought yesterday (not lapsed)."""
    rows = [
        (0, NAN, NAN, NAN),  # never bought
        (1, 10, 1, NAN),
        (2, 40, 1, 39),
        (3, 60, 1, 30),
        (4, 90, 1, 30),
        (8, 180, 1, 25),
        (8, 179, 1, 25),  # enough purchases, tenure one day short -> client
        (15, 365, 1, 25),
        (15, 364, 1, 25),  # partner count, short tenure -> reliable friend
        (30, 100, 1, 3),  # many purchases, short tenure -> client
    ]
    assert stages(rows) == [
        "potential",
        "first_time",
        "repeat",
        "repeat",
        "client",
        "reliable_friend",
        "client",
        "partner",
        "reliable_friend",
        "client",
    ]


def test_lapse_uses_own_interval_with_a_floor() -> None:
    """Lapsed when days since last > max(3 * own interval, 90): interval 30 -> 90 days
    allowed (90 not lapsed, 91 lapsed); interval 60 -> 180 allowed (150 fine, 181 lapsed).
    The rung reached is kept in ``ladder``."""
    count = np.array([5, 5, 5, 5])
    first = np.array([400.0, 400.0, 400.0, 400.0])
    last = np.array([90.0, 91.0, 150.0, 181.0])
    interval = np.array([30.0, 30.0, 60.0, 60.0])
    result = lifecycle_stages(count, first, last, interval)
    assert result.stage_labels() == ["client", "lapsed", "client", "lapsed"]
    assert result.lapsed.tolist() == [False, True, False, True]
    assert result.ladder.tolist() == [Stage.CLIENT] * 4


def test_one_time_buyer_lapse_uses_floor_or_population_interval() -> None:
    """No own interval: min_lapse_days (90) alone, or 3 x the population interval."""
    rows = [(1, 100, 95, NAN), (1, 100, 91, NAN)]
    assert stages(rows) == ["lapsed", "lapsed"]
    assert stages(rows, population_interval_days=40.0) == ["first_time", "first_time"]


def test_potential_customers_never_lapse() -> None:
    assert stages([(0, NAN, NAN, NAN)]) == ["potential"]


def test_custom_thresholds() -> None:
    th = LifecycleThresholds(
        client_from_purchases=6,
        reliable_friend_from_purchases=10,
        reliable_friend_min_tenure_days=0,
        partner_from_purchases=20,
        partner_min_tenure_days=0,
        lapse_factor=2.0,
        min_lapse_days=10,
    )
    rows = [(5, 50, 1, 20), (10, 50, 1, 5), (20, 50, 1, 2), (4, 50, 41, 20)]
    assert stages(rows, thresholds=th) == ["repeat", "reliable_friend", "partner", "lapsed"]


def test_invalid_thresholds_and_inputs() -> None:
    with pytest.raises(ValueError, match="increase"):
        LifecycleThresholds(client_from_purchases=2)  # the repeat rung is 2 purchase days
    with pytest.raises(ValueError, match="tenure"):
        LifecycleThresholds(reliable_friend_min_tenure_days=400, partner_min_tenure_days=365)
    with pytest.raises(ValueError, match="finite for buyers"):
        lifecycle_stages([2], [NAN], [1.0], [1.0])
    with pytest.raises(ValueError, match="equal length"):
        lifecycle_stages([2, 3], [1.0], [1.0], [1.0])


def test_empty_input() -> None:
    result = lifecycle_stages([], [], [], [])
    assert result.stage.size == 0


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(1, 40),
    extra=st.integers(0, 20),
    tenure=st.floats(0, 1000, allow_nan=False),
    more_tenure=st.floats(0, 500, allow_nan=False),
)
def test_property_more_purchases_and_tenure_never_lower_the_rung(
    count: int, extra: int, tenure: float, more_tenure: float
) -> None:
    """The ladder is monotone: more purchases and a longer tenure never move a
    customer down (recency held fixed and recent)."""
    result = lifecycle_stages(
        [count, count + extra], [tenure, tenure + more_tenure], [0.0, 0.0], [NAN, NAN]
    )
    assert result.ladder[1] >= result.ladder[0]
    assert Stage.FIRST_TIME <= result.ladder[0] <= Stage.PARTNER

"""Value low/medium/high (seed 000) and relationship strategies (seed 001, table 1)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from scoring.rfm import DEFAULT_SEGMENT_RULES, segment_grid
from scoring.value import (
    LONG_TERM_TEXT,
    SERVICE_TEXT,
    STRATEGY_TEXT,
    relationship_strategies,
    strategy_table,
    value_tiers,
)

SEEDS = Path("/work/shared/seeds")
_, SEGMENT_NAMES = segment_grid(DEFAULT_SEGMENT_RULES)


def seg(name: str) -> int:
    return SEGMENT_NAMES.index(name)


def test_terciles_of_clv_hand_computed() -> None:
    """Nine distinct CLVs split 3/3/3: midpoints (2i+1)/18 -> floor(3m) = 0,0,0,1,1,1,2,2,2."""
    result = value_tiers(np.arange(9.0)[::-1], np.zeros(9))
    assert result.tier.tolist() == [2, 2, 2, 1, 1, 1, 0, 0, 0]
    assert result.basis == "clv"
    assert result.tier_labels()[0] == "high"


def test_ties_get_equal_value() -> None:
    """Six customers, four with CLV 5: the block's midpoint (0 + 4)/12 = 1/3 ->
    floor(1.0) = 1 (medium) for all four; 7 -> (8 + 1)/12 -> 2; 9 -> 2."""
    result = value_tiers([5, 5, 5, 5, 7, 9], np.zeros(6))
    assert result.tier.tolist() == [1, 1, 1, 1, 2, 2]


def test_fallback_to_monthly_spend_when_clv_not_fitted() -> None:
    """House rule: "terciles of CLV (of average monthly spend when CLV cannot be fitted)"."""
    result = value_tiers(None, [10.0, 30.0, 20.0])
    assert result.basis == "monthly_spend"
    assert result.tier_labels() == ["low", "high", "medium"]


def test_unrated_customers() -> None:
    """Masked or NaN customers are not rated (-1) and do not shift the others."""
    result = value_tiers([np.nan, 1.0, 2.0, 3.0, 99.0], np.zeros(5), rated=[1, 1, 1, 1, 0])
    assert result.tier.tolist() == [-1, 0, 1, 2, -1]
    assert result.n_rated == 3
    assert value_tiers([], []).tier.size == 0


def test_service_strategy_per_value() -> None:
    """Seed 000_d7668709a2aad693.txt, profile card: "Ценность клиента (низкая, средняя,
    высокая)" -> "Минимизировать затраты на обслуживание" / "Стандартизированное
    обслуживание" / "Удерживать клиента и улучшать его обслуживание"."""
    result = relationship_strategies([0, 1, 2, -1], [1.0] * 4, [1.0] * 4)
    assert result.service_labels() == [
        "minimise_cost",
        "standardise",
        "retain_and_improve",
        None,
    ]
    assert SERVICE_TEXT["retain_and_improve"].title_ru == (
        "Удерживать клиента и улучшать его обслуживание"
    )


def test_strategy_on_the_two_axes_of_001_table_1() -> None:
    """Seed 001_f4e16ab2000605dc.txt, table 1 (Название стратегии / Сущность / Типы
    клиентов):
    «Вознаграждать и вкладывать — Для тех потребителей, которые по всем признакам могут
    оказаться прибыльными в будущем … –«лучшие клиенты»; – шопперы; –постоянные
    заказчики; – «адвокаты»»;
    «Управлять — Направлена на тех покупателей, которые приносят прибыль на данный
    момент, но в будущем могут оказаться менее прибыльными»;
    «"Взыскивать" — … некоторые клиенты не приносят сейчас прибыли, но их можно сделать
    прибыльными за счет употребления штрафных санкций — -потенциальные заказчики»;
    «"Освобождать" — Отказ от клиентов, которые не составляют никакого интереса
    предприятию, сотрудничество с которыми не приносит ожидаемой прибыли — –«худшие»
    клиенты»;
    «Долгосрочная маркетинговая стратегия — … все типы клиентов, за исключением
    «худших клиентов»».

    Axes (issue 21): profitable now = margin over the trailing 12 months after the
    programme's costs above zero («не приносят сейчас прибыли» is absolute); profitable
    in future = CLV at or above the owner's expectation (here 100). Four rated
    customers, one per quadrant, and one not rated."""
    tier = [2, 1, 1, 0, -1]
    margin_12m = [900.0, 800.0, -10.0, 0.0, 0.0]
    clv = [5000.0, 20.0, 4000.0, 10.0, 0.0]
    result = relationship_strategies(tier, margin_12m, clv, future_min=100.0)
    assert result.strategy_labels() == [
        "reward_and_invest",  # now and future
        "manage",  # now, less in future
        "collect",  # not now, can be made profitable
        "release",  # neither: the worst
        None,
    ]
    assert result.long_term.tolist() == [True, True, True, False, False]
    assert result.profitable_now.tolist() == [True, True, False, False, False]
    assert result.profitable_future.tolist() == [True, False, True, False, False]


def test_no_margin_is_never_profitable_now() -> None:
    """A customer with nothing in the trailing 12 months is not "profitable now"."""
    result = relationship_strategies([0, 0, 0], [0.0, 0.0, 50.0], [10.0, 10.0, 10.0])
    assert result.profitable_now.tolist() == [False, False, True]
    assert result.strategy_labels() == ["collect", "collect", "reward_and_invest"]


def test_table_can_be_overridden_by_a_dict() -> None:
    table = strategy_table({"future_only": "reward_and_invest"})
    result = relationship_strategies([0, 0], [0.0, 10.0], [10.0, 0.0], table)
    assert result.strategy_labels() == ["reward_and_invest", "manage"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"huge": "manage"}, r"strategy\.huge: unknown quadrant"),
        ({"neither": "pamper"}, r"strategy\.neither: unknown strategy 'pamper'"),
    ],
)
def test_override_errors_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strategy_table(overrides)


def _normalise(text: str) -> str:
    text = re.sub(r"-\s*\n\s*", "", text)  # undo hyphenation at line ends
    return re.sub(r"\s+", " ", text)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed texts not available")
def test_quoted_wording_really_is_in_the_seeds() -> None:
    """The Russian quotes shown to the owner are verbatim from seeds 000 and 001."""
    seed = {p.name[:3]: _normalise(p.read_text(encoding="utf-8")) for p in SEEDS.glob("00*.txt")}
    for text in (*STRATEGY_TEXT.values(), LONG_TERM_TEXT):
        assert _normalise(text.title_ru) in seed["001"]
        assert _normalise(text.essence_ru) in seed["001"]
        for kind in text.customer_types_ru:
            assert _normalise(kind) in seed["001"]
    for text in SERVICE_TEXT.values():
        assert _normalise(text.title_ru) in seed["000"]

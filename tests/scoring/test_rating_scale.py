"""The seed 002 rating scale as B2B_PRESET, its documented gaps, and custom presets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.rating_scale import (
    B2B_BENEFIT_TEXT,
    B2B_PRESET,
    NumericCriterion,
    RatingScaleConfigError,
    score_rating_scale,
)
from scoring.rating_scale_config import preset_from_dict, preset_to_dict


def criterion(key: str) -> Any:
    return next(c for c in B2B_PRESET.criteria if c.key == key)


def score_one(**values: Any) -> tuple[int, str | None]:
    """Total and category of one customer; unspecified criteria at their 0-point value."""
    inputs = {
        "turnover_share_pct": [values.get("turnover_share_pct", 0.0)],
        "cooperation_months": [values.get("cooperation_months", 0.0)],
        "payment": [values.get("payment", "late")],
        "monthly_growth_pct": [values.get("monthly_growth_pct", 0.0)],
    }
    result = score_rating_scale(B2B_PRESET, inputs)
    return int(result.total[0]), result.category_labels()[0]


@pytest.mark.parametrize(
    ("share", "points"),
    [
        (0.0, 0),
        (2.99, 0),
        (3.0, 1),
        (4.99, 1),
        (5.0, 2),
        (9.99, 2),
        (10.0, 3),
        (19.99, 3),
        (20.0, 4),
        (75.0, 4),
    ],
)
def test_turnover_share_rows(share: float, points: int) -> None:
    """Seed 002_5ddba62783fdb83f.txt, "Шкала установления рейтинга клиента":
    "Доля клиента в обороте Менее 3% / От 3% до 5% / От 5% до10% / От 10%до20% /
    от 20% и выше — 0 1 2 3 4". Shared edges: lower inclusive (3% -> 1, 5% -> 2)."""
    assert criterion("turnover_share_pct").score([share]).tolist() == [points]


@pytest.mark.parametrize(
    ("months", "points"),
    [
        (0, 0),
        (5.9, 0),
        (6, 1),
        (11.9, 1),
        (12, 2),
        (23.9, 2),
        (24, 3),
        (35.9, 3),
        (36, 3),
        (36.03, 4),
        (120, 4),
    ],
)
def test_cooperation_rows(months: float, points: int) -> None:
    """Seed 002: "Период сотрудничества До полугода / От полугода до 1 года / От 1 года
    до 2-х лет / От 2-х до 3-х лет / Более 3-х лет — 0 1 2 3 4", in calendar months.
    Edges: "до полугода" < 6; "от полугода" includes 6; "от 1 года" includes 12; "от
    2-х" includes 24; exactly 36 is still "до 3-х лет" (3 points), because "более 3-х
    лет" says MORE than 3 years: 36 months and a day (36.03) scores 4."""
    assert criterion("cooperation_months").score([months]).tolist() == [points]


def test_payment_rows_and_late_payment() -> None:
    """Seed 002: "Своевременность оплат Предоплата / Оплата в срок — 2 1". Late payment
    has no row in the seed: documented as 0 points and flagged not_in_seed."""
    payment = criterion("payment")
    assert payment.score(["prepayment", "on_time", "late"]).tolist() == [2, 1, 0]
    assert payment.not_in_seed == ("late",)
    with pytest.raises(ValueError, match="unknown choice"):
        payment.score(["sometimes"])


@pytest.mark.parametrize(
    ("growth", "points"),
    [
        (-40.0, 0),
        (-0.1, 0),
        (0.0, 0),
        (9.99, 0),
        (10.0, 1),
        (19.99, 1),
        (20.0, 3),
        (29.99, 3),
        (30.0, 3),
        (250.0, 3),
    ],
)
def test_growth_rows_and_out_of_table_growth(growth: float, points: int) -> None:
    """Seed 002: "Среднемесячный темп прироста продаж От 0% до 10% / От 10% до 20% /
    От 20% до 30% — 0 1 3". Negative growth -> 0 and 30% or more -> 3 (documented
    extensions, marked in_seed=False)."""
    assert criterion("monthly_growth_pct").score([growth]).tolist() == [points]
    extra = [b for b in criterion("monthly_growth_pct").bands if not b.in_seed]
    assert [(b.lower, b.upper, b.points) for b in extra] == [(None, 0, 0), (30, None, 3)]


def test_maximum_score_is_13() -> None:
    """4 + 4 + 2 + 3 = 13, the top row of every criterion."""
    assert B2B_PRESET.max_score == 13
    assert score_one(
        turnover_share_pct=25, cooperation_months=48, payment="prepayment", monthly_growth_pct=25
    ) == (13, "strategic")


def test_categories_and_the_overlap_at_12() -> None:
    """Seed 002: "Категории клиентов: Стратегический (ключевой) партнер –от 12 баллов и
    выше / Постоянный клиент – от 9 до 12 баллов / Стандартный клиент – от 5 до 8
    баллов". 12 is in both ranges: the higher category wins (12 = strategic).
    Below 5 the seed names no category: None."""
    # 4 + 4 + 2 + 3 = 13; 4 + 4 + 1 + 3 = 12; 4 + 4 + 2 + 1 = 11; 4 + 4 + 1 + 0 = 9;
    # 4 + 4 + 0 + 0 = 8; 4 + 1 + 0 + 0 = 5; 4 + 0 + 0 + 0 = 4.
    cases = [
        (
            dict(
                turnover_share_pct=20,
                cooperation_months=37,
                payment="on_time",
                monthly_growth_pct=20,
            ),
            12,
            "strategic",
        ),
        (
            dict(
                turnover_share_pct=20,
                cooperation_months=37,
                payment="prepayment",
                monthly_growth_pct=10,
            ),
            11,
            "regular",
        ),
        (dict(turnover_share_pct=20, cooperation_months=37, payment="on_time"), 9, "regular"),
        (dict(turnover_share_pct=20, cooperation_months=37), 8, "standard"),
        (dict(turnover_share_pct=20, cooperation_months=6), 5, "standard"),
        (dict(turnover_share_pct=20), 4, None),
        ({}, 0, None),
    ]
    for values, total, category in cases:
        assert score_one(**values) == (total, category), values


def test_category_benefits_are_the_seeds() -> None:
    """Seed 002: «Стратегический партнер»: Особые условия договора, Право на льготный
    кредит, Система накопительных скидок, Обслуживание персональным менеджером,
    Оперативные консультации по текущим вопросам, Сокращение сроков обслуживания;
    «Постоянный клиент»: Право на льготный кредит, Накопительные скидки,
    Обслуживание персональным менеджером, Оперативные консультации...;
    «Стандартный клиент»: Стандартные скидки, Информационная поддержка."""
    benefits = {c.key: c.benefits for c in B2B_PRESET.categories}
    assert benefits == {
        "strategic": (
            "special_terms",
            "preferential_credit",
            "cumulative_discounts",
            "personal_manager",
            "prompt_consultations",
            "faster_service",
        ),
        "regular": (
            "preferential_credit",
            "cumulative_discounts",
            "personal_manager",
            "consultations",
        ),
        "standard": ("standard_discounts", "information_support"),
    }
    assert all(key in B2B_BENEFIT_TEXT for keys in benefits.values() for key in keys)
    assert B2B_BENEFIT_TEXT["faster_service"][0] == "Сокращение сроков обслуживания"


def test_vectorised_scoring_of_many_customers() -> None:
    inputs = {
        "turnover_share_pct": np.array([1.0, 4.0, 12.0, 30.0]),
        "cooperation_months": np.array([2.0, 8.0, 30.0, 50.0]),
        "payment": np.array(["late", "on_time", "on_time", "prepayment"]),
        "monthly_growth_pct": np.array([-3.0, 12.0, 22.0, 40.0]),
    }
    result = score_rating_scale(B2B_PRESET, inputs)
    # 0+0+0+0, 1+1+1+1, 3+3+1+3, 4+4+2+3
    assert result.total.tolist() == [0, 4, 10, 13]
    assert result.category_labels() == [None, None, "regular", "strategic"]
    assert result.points["payment"].tolist() == [0, 1, 1, 2]


def test_inputs_must_match_the_criteria() -> None:
    with pytest.raises(ValueError, match=r"missing \['payment'\]"):
        score_rating_scale(
            B2B_PRESET,
            {"turnover_share_pct": [1], "cooperation_months": [1], "monthly_growth_pct": [1]},
        )
    with pytest.raises(ValueError, match="finite"):
        criterion("turnover_share_pct").score([np.nan])


def test_empty_input() -> None:
    result = score_rating_scale(
        B2B_PRESET,
        {
            "turnover_share_pct": [],
            "cooperation_months": [],
            "payment": [],
            "monthly_growth_pct": [],
        },
    )
    assert result.total.size == 0 and result.category_labels() == []


def test_preset_round_trips_through_a_plain_dict() -> None:
    """A preset is data: dict -> preset gives the same scores as the original."""
    rebuilt = preset_from_dict(preset_to_dict(B2B_PRESET))
    rng = np.random.default_rng(3)
    inputs = {
        "turnover_share_pct": rng.uniform(-5, 40, 500).round(0),
        "cooperation_months": rng.uniform(0, 60, 500).round(0),
        "payment": rng.choice(["prepayment", "on_time", "late"], 500),
        "monthly_growth_pct": rng.uniform(-20, 50, 500).round(0),
    }
    a = score_rating_scale(B2B_PRESET, inputs)
    b = score_rating_scale(rebuilt, inputs)
    assert np.array_equal(a.total, b.total) and np.array_equal(a.category, b.category)
    assert rebuilt.max_score == 13


def test_custom_preset_from_toml_like_dict() -> None:
    data = {
        "name": "cafe",
        "criteria": [
            {"key": "visits_per_month", "edges": [2, 4], "points": [0, 1, 2]},
            {"key": "member", "choices": {"yes": 1, "no": 0}},
        ],
        "categories": [{"key": "gold", "min_score": 3, "benefits": ["free coffee"]}],
    }
    preset = preset_from_dict(data)
    result = score_rating_scale(
        preset, {"visits_per_month": [1, 2, 5], "member": ["no", "yes", "yes"]}
    )
    assert result.total.tolist() == [0, 2, 3]
    assert result.category_labels() == [None, None, "gold"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, r"rating_scale\.criteria: required"),
        ({"criteria": []}, r"rating_scale\.criteria: at least one"),
        ({"criteria": [{"edges": [1], "points": [0, 1]}]}, r"criteria\[0\]\.key: required"),
        (
            {"criteria": [{"key": "a", "edges": [5, 3], "points": [0, 1, 2]}]},
            r"criteria\[0\]\.edges: must be strictly increasing",
        ),
        (
            {"criteria": [{"key": "a", "edges": [1, 2], "points": [0, 1]}]},
            r"criteria\[0\]\.points: need len\(edges\) \+ 1 = 3",
        ),
        (
            {"criteria": [{"key": "a", "edges": [1, "x"], "points": [0, 1, 2]}]},
            r"criteria\[0\]\.edges\[1\]: must be a finite number",
        ),
        (
            {"criteria": [{"key": "a", "edges": [1], "points": [0, 1.5]}]},
            r"criteria\[0\]\.points\[1\]: must be an integer",
        ),
        (
            {"criteria": [{"key": "a", "edges": [1], "points": [0, 1], "choices": {"x": 1}}]},
            r"criteria\[0\]: give either",
        ),
        ({"criteria": [{"key": "a", "choices": {}}]}, r"criteria\[0\]\.choices: must be"),
        (
            {"criteria": [{"key": "a", "choices": {"x": "two"}}]},
            r"criteria\[0\]\.choices\.x: must be an integer",
        ),
        (
            {"criteria": [{"key": "a", "choices": {"x": 1}}, {"key": "a", "choices": {"y": 1}}]},
            r"rating_scale\.criteria: duplicate values \['a'\]",
        ),
        (
            {
                "criteria": [{"key": "a", "choices": {"x": 1}}],
                "categories": [{"key": "gold", "min_score": "12"}],
            },
            r"categories\[0\]\.min_score: must be an integer",
        ),
        (
            {
                "criteria": [{"key": "a", "choices": {"x": 1}}],
                "categories": [{"key": "g", "min_score": 1}, {"key": "s", "min_score": 1}],
            },
            r"categories\.min_score: duplicate",
        ),
        (
            {
                "criteria": [{"key": "a", "choices": {"x": 1}}],
                "categories": [{"key": "g", "min_score": 1, "benefits": "all"}],
            },
            r"categories\[0\]\.benefits: must be a list",
        ),
    ],
)
def test_preset_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RatingScaleConfigError, match=message):
        preset_from_dict(data)


def test_bands_must_cover_the_line_without_gaps() -> None:
    from scoring.rating_scale import Band

    with pytest.raises(ValueError, match="contiguous"):
        NumericCriterion("x", (Band(None, 1, 0), Band(2, None, 1)))
    with pytest.raises(ValueError, match="-inf"):
        NumericCriterion("x", (Band(0, 1, 0), Band(1, None, 1)))


@settings(max_examples=200, deadline=None)
@given(
    share=st.floats(-10, 100, allow_nan=False),
    months=st.floats(0, 200, allow_nan=False),
    payment=st.sampled_from(["prepayment", "on_time", "late"]),
    growth=st.floats(-100, 500, allow_nan=False),
    bump=st.floats(0, 50, allow_nan=False),
)
def test_property_total_in_range_and_monotone(
    share: float, months: float, payment: str, growth: float, bump: float
) -> None:
    """Total is always in 0..13, and more turnover / longer cooperation / more growth
    never lowers the total or the category."""
    base = score_rating_scale(
        B2B_PRESET,
        {
            "turnover_share_pct": [share],
            "cooperation_months": [months],
            "payment": [payment],
            "monthly_growth_pct": [growth],
        },
    )
    more = score_rating_scale(
        B2B_PRESET,
        {
            "turnover_share_pct": [share + bump],
            "cooperation_months": [months + bump],
            "payment": [payment],
            "monthly_growth_pct": [growth + bump],
        },
    )
    assert 0 <= base.total[0] <= 13
    assert more.total[0] >= base.total[0]
    mins = {c.key: c.min_score for c in B2B_PRESET.categories}
    rank = [
        mins.get(k, -1) if k else -1 for k in (*base.category_labels(), *more.category_labels())
    ]
    assert rank[1] >= rank[0]

"""The reclassification job: SQL aggregates, the sources' methods, one row per customer."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.db.models import CustomerScore, ScoringRun
from bot.services.insight.scoring_job import reclassify
from scoring.calendar import add_months
from tests.conftest import BACKENDS, make_settings
from tests.support.harness import App
from tests.support.seed_data import add_customer

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

# name: (days ago of the last purchase, number of purchases, amount each)
HISTORY = {
    "A": (1, 1, "500"),
    "B": (10, 5, "100"),
    "C": (30, 2, "1000"),
    "D": (60, 4, "300"),
    "E": (200, 3, "200"),
}


async def _business(app: App) -> dict[str, int]:
    now = app.clock.now()
    ids = {}
    for name, (last, count, amount) in HISTORY.items():
        # purchases 20 days apart, the latest `last` days ago
        ids[name] = await add_customer(
            app.biz.db, now, name, purchases=[(last + 20 * k, amount) for k in range(count)]
        )
    ids["never"] = await add_customer(app.biz.db, now, "never")
    ids["refunded"] = await add_customer(
        app.biz.db, now, "refunded", purchases=[(3, "9999")], refunded=True
    )
    return ids


async def _scores(app: App) -> dict[int, CustomerScore]:
    async with app.biz.db.read() as session:
        return {s.customer_id: s for s in await session.scalars(select(CustomerScore))}


async def test_rfm_codes_follow_the_seed(app: App) -> None:
    """seed 002: «Все клиенты сортируются в порядке возрастания срока, прошедшего со
    времени последней покупки … 5-клиенты, совершившие недавние покупки»; F «в порядке
    убывания количества покупок»; M «в порядке убывания средней стоимости покупки»;
    «Клиенты, получившие FRM – 555, являются наиболее ценными».

    Five buyers with distinct values make five equal groups of one:
    R: A(1 day) 5, B 4, C 3, D 2, E(200 days) 1; F: B(5) 5, D(4) 4, E(3) 3, C(2) 2, A(1) 1;
    M by the AVERAGE check: C(1000) 5, A(500) 4, D(300) 3, E(200) 2, B(100) 1 — B's total
    (500) equals A's, so a total-based M would tie them; the seed's average does not.
    """
    ids = await _business(app)
    summary = await reclassify(app.biz)
    scores = await _scores(app)
    codes = {name: scores[ids[name]].rfm_code for name in HISTORY}
    assert codes == {"A": "514", "B": "451", "C": "325", "D": "243", "E": "132"}
    assert summary.customers == 7 and summary.with_purchases == 5
    assert scores[ids["B"]].average_check == Decimal("100.00")
    assert scores[ids["B"]].total_spend == Decimal("500.00")
    assert scores[ids["B"]].days_since_last == 10 and scores[ids["B"]].purchases == 5


async def test_customers_without_purchases_and_refunds(app: App) -> None:
    """A customer who never bought, and one whose only purchase was refunded, are not
    ranked: no RFM code, no value, lifecycle 'potential' (the ladder's first rung)."""
    ids = await _business(app)
    await reclassify(app.biz)
    scores = await _scores(app)
    for name in ("never", "refunded"):
        row = scores[ids[name]]
        assert (row.rfm_code, row.purchases, row.value, row.clv) == (None, 0, "unrated", None)
        assert row.lifecycle == "potential" and row.segment == "no_purchases"


async def test_every_customer_gets_a_finite_labelled_row(app: App) -> None:
    """Five buyers are too few to fit the purchase model: CLV falls back to the model of
    the reference shape at the business's own rate ("mbg_nbd_prior") and the average
    check, labelled as such, and value terciles use monthly spend."""
    ids = await _business(app)
    summary = await reclassify(app.biz)
    scores = await _scores(app)
    assert set(scores) == set(ids.values())
    assert summary.clv_method == "mbg_nbd_prior" and summary.value_basis == "monthly_spend"
    for name in HISTORY:
        row = scores[ids[name]]
        assert row.clv is not None and row.clv >= 0 and row.clv_method == "mbg_nbd_prior"
        assert row.p_alive is not None and 0 <= row.p_alive <= 1
        assert row.value in {"low", "medium", "high"} and row.strategy != "none"
    assert scores[ids["E"]].lapsed, "200 days after a 20-day rhythm is lapsed"
    assert not scores[ids["A"]].lapsed


async def test_rerun_updates_in_place(app: App) -> None:
    ids = await _business(app)
    await reclassify(app.biz)
    progress: list[tuple[int, int]] = []

    async def report(done: int, total: int) -> None:
        progress.append((done, total))

    await reclassify(app.biz, report)
    assert progress[-1] == (7, 7)
    assert len(await _scores(app)) == len(ids)
    async with app.biz.db.read() as session:
        runs = list(await session.scalars(select(ScoringRun)))
    assert [r.status for r in runs] == ["done", "done"]


async def test_rating_scale_b2b_preset(app: App, db_url: str) -> None:
    """seed 002 rating scale, b2b preset: a customer with all of the trailing year's
    turnover (share ≥ 20% → 4), cooperating over 3 years (→ 4), paying in advance (→ 2),
    with flat monthly sales (growth 0–10% → 0) scores 10: «постоянный клиент» (9–12)."""
    settings = make_settings(db_url, scoring={"rating_scale": "b2b"})
    biz = app.variant(settings).biz
    now = app.clock.now()
    only = await add_customer(
        biz.db,
        now,
        "Dealer",
        payment_terms="prepayment",
        purchases=[(1200, "100")] + [(d, "100") for d in range(5, 360, 30)],
    )
    await reclassify(biz)
    row = (await _scores(app))[only]
    assert (row.rating_points, row.rating_category) == (10, "regular")


async def test_empty_business(app: App) -> None:
    """No customers at all: a finished run with nothing to write, not a crash."""
    summary = await reclassify(app.biz)
    assert (summary.customers, summary.with_purchases, summary.clv_method) == (0, 0, "none")
    assert await _scores(app) == {}


async def test_custom_rating_scale_from_config(app: App, db_url: str) -> None:
    """Owners declare their own preset in config: here payment and cooperation only, with
    their own bands and categories."""
    custom = {
        "name": "garage",
        "criteria": [
            {
                "key": "payment",
                "title": "Payment",
                "choices": {"prepayment": 3, "on_time": 1, "late": 0},
            },
            {
                "key": "cooperation_months",
                "title": "Years",
                "unit": "months",
                "edges": [12.0],
                "points": [0, 2],
            },
        ],
        "categories": [
            {"key": "vip", "title": "VIP", "min_score": 5, "benefits": []},
            {"key": "guest", "title": "Guest", "min_score": 0, "benefits": []},
        ],
    }
    settings = make_settings(
        db_url, scoring={"rating_scale": "custom", "custom_rating_scale": custom}
    )
    biz = app.variant(settings).biz
    now = app.clock.now()
    vip = await add_customer(
        biz.db, now, "V", payment_terms="prepayment", purchases=[(500, "10"), (1, "10")]
    )
    guest = await add_customer(biz.db, now, "G", purchases=[(2, "10")])
    await reclassify(biz)
    scores = await _scores(app)
    assert (scores[vip].rating_points, scores[vip].rating_category) == (5, "vip")
    assert (scores[guest].rating_points, scores[guest].rating_category) == (1, "guest")


async def test_cooperation_length_in_calendar_months(app: App, db_url: str) -> None:
    """seed 002, «Период сотрудничества: До полугода 0 / От полугода до 1 года 1 / От 1
    года до 2-х лет 2 / От 2-х до 3-х лет 3 / Более 3-х лет 4», counted in calendar
    months from sign-up (no purchases here, so share and growth score 0 and on-time
    payment 1: points = 1 + cooperation). Edges, each on its own customer:
    a day short of 6 months -> 0; the 6-month day -> 1; the first anniversary -> 2
    (a whole year, though 365 days / 30.44 < 12); the second -> 3; the third -> 3
    (exactly 3 years is not «более 3-х лет»); the third and a day -> 4."""
    settings = make_settings(db_url, scoring={"rating_scale": "b2b"})
    biz = app.variant(settings).biz
    now = app.clock.now()
    today = now.astimezone(biz.settings.business.zone).date()
    joined = {
        "short_of_6": (add_months(today, -6) + timedelta(days=1), 0),
        "6_months": (add_months(today, -6), 1),
        "1_year": (add_months(today, -12), 2),
        "2_years": (add_months(today, -24), 3),
        "3_years": (add_months(today, -36), 3),
        "3_years_and_a_day": (add_months(today, -36) - timedelta(days=1), 4),
    }
    ids = {
        name: await add_customer(biz.db, now, name, joined_days_ago=(today - day).days)
        for name, (day, _) in joined.items()
    }
    await reclassify(biz)
    scores = await _scores(app)
    points = {name: scores[ids[name]].rating_points for name in joined}
    assert points == {name: 1 + coop for name, (_, coop) in joined.items()}


async def test_strategy_from_margin_now_and_clv(app: App) -> None:
    """seed 001, table 1: «Вознаграждать и вкладывать — … могут оказаться прибыльными в
    будущем»; «Управлять — … приносят прибыль на данный момент, но в будущем могут
    оказаться менее прибыльными»; «"Взыскивать" — … не приносят сейчас прибыли, но их можно
    сделать прибыльными»; «"Освобождать" — … не приносит ожидаемой прибыли».

    Issue 21: the axes are absolute. Profitable now: margin over the trailing 12 months
    after the programme's costs above zero: A 150, B 150, C 600, D 360, E 180 all are, so
    nobody is collected or released (before, two were collected). Profitable in future:
    CLV at or above the default expectation, the margin on one average purchase:
    0.3 x 4,800 / 15 = 96. With the owner's expectation set to 1,000,000 nobody is, and
    everyone is managed."""
    ids = await _business(app)
    summary = await reclassify(app.biz)
    scores = await _scores(app)
    strategies = {name: scores[ids[name]].strategy for name in HISTORY}
    expected = {
        name: "reward_and_invest" if scores[ids[name]].clv >= Decimal("96") else "manage"
        for name in HISTORY
    }
    assert strategies == expected
    assert "reward_and_invest" in strategies.values()
    async with app.biz.db.read() as session:
        run = await session.get(ScoringRun, summary.run_id)
    assert run.details["future_profit_min"] == 96.0 and run.details["future_profit_min_default"]

    demanding = app.variant(
        make_settings(app.biz.settings.database.url, scoring={"future_profit_min": 1_000_000})
    ).biz
    await reclassify(demanding)
    scores = await _scores(app)
    assert {name: scores[ids[name]].strategy for name in HISTORY} == dict.fromkeys(
        HISTORY, "manage"
    )

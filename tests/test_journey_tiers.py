"""Tiers on a controlled clock (SPEC.md, Tiers and bonuses): promotion at once with a
message naming the new perks, a purchase earns at the tier held before it, demotion only
after the grace period, a daily recheck that announces nothing twice; and the b2b preset
with seed 002's categories ("Стратегический (ключевой) партнер – от 12 баллов и выше;
Постоянный клиент – от 9 до 12 баллов; Стандартный клиент – от 5 до 8 баллов")."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.config import ConfigError, Settings
from bot.db.models import CustomerScore, Purchase
from bot.services.money import tiers
from tests.conftest import make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER = 6001


async def _tier(app: App, tg_id: int) -> str | None:
    customer = await app.customer(telegram_id=tg_id)
    assert customer is not None
    return customer.tier


async def test_promotion_at_once_demotion_after_grace(app: App) -> None:
    """Retail preset: Silver from 30 000 of purchases in 12 months, 7%; grace 30 days."""
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await app.deliver()
    await cashier.send(f"/purchase {customer.card_code} 30000")  # earns at Base: 5% = 1500
    assert await _tier(app, 5001) == "silver"
    await app.deliver()
    promoted = app.fake.texts(5001)[-1]
    assert "Your status is now <b>Silver</b>" in promoted and "priority booking" in promoted
    assert "+1,500 points" in app.fake.texts(5001)[-2]

    app.clock.advance(timedelta(days=180))
    await cashier.send(f"/purchase {customer.card_code} 1000")  # at Silver: 7% = 70
    async with app.biz.db.read() as session:
        earned = list(await session.scalars(select(Purchase.points_earned).order_by(Purchase.id)))
    assert earned == [1500, 70]

    app.clock.advance(timedelta(days=186))  # the 30 000 purchase leaves the 12-month window
    await app.deliver()
    told = len(app.fake.texts(5001))
    assert await tiers.run_daily(app.biz) == {"customers": 1, "changed": 0}
    assert await _tier(app, 5001) == "silver", "no demotion before the grace period"
    await ivan.send("/balance")
    shown = app.fake.last(5001).text  # what keeps Silver: its thresholds (no keep_* set)
    assert "To keep your status after" in shown and "29,000.00 more in purchases" in shown, shown
    app.clock.advance(timedelta(days=29))
    await tiers.run_daily(app.biz)
    assert await _tier(app, 5001) == "silver"
    app.clock.advance(timedelta(days=1))
    assert await tiers.run_daily(app.biz) == {"customers": 1, "changed": 1}
    assert await _tier(app, 5001) == "base"
    await tiers.run_daily(app.biz)  # a rerun (restart) changes and tells nothing more
    await app.deliver()
    assert len(app.fake.texts(5001)) == told + 2  # the /balance answer and one demotion
    assert "Your status is now <b>Base</b>" in app.fake.texts(5001)[-1]


async def test_requalifying_during_grace_keeps_the_tier(app: App) -> None:
    customer = await join(app, app.user(5001, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 30000")
    app.clock.advance(timedelta(days=370))
    await tiers.run_daily(app.biz)
    below = await app.customer(telegram_id=5001)
    assert below is not None and below.below_tier_since is not None
    await cashier.send(f"/purchase {customer.card_code} 30000")
    app.clock.advance(timedelta(days=40))
    await tiers.run_daily(app.biz)
    kept = await app.customer(telegram_id=5001)
    assert kept is not None and (kept.tier, kept.below_tier_since) == ("silver", None)


async def test_balance_says_what_the_next_tier_takes(app: App) -> None:
    ivan = app.user(5001, "ru")
    customer = await join(app, ivan)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 28800")
    await ivan.send("/balance")
    reply = app.fake.last(5001).text
    assert "До статуса «Серебряный» осталось 1\xa0200,00\xa0₽ (или ещё визитов: 11)" in reply, reply


@pytest.fixture
def b2b_settings(db_url: str) -> Settings:
    return make_settings(db_url, tiers={"preset": "b2b"}, scoring={"rating_scale": "b2b"})


@pytest.mark.parametrize(
    ("points", "tier"),
    [(4, "none"), (5, "standard"), (8, "standard"), (9, "regular"), (11, "regular"),
     (12, "strategic"), (13, "strategic")],
)  # fmt: skip
def test_b2b_categories_from_the_rating_scale(points: int, tier: str, b2b_settings: Settings):
    standing = tiers.Standing(spend=Decimal(0), visits=0, rating=points)
    assert tiers.qualified(b2b_settings, standing).code == tier


async def test_b2b_tier_assigned_from_the_scoring_rating(b2b_settings: Settings, app: App) -> None:
    b2b = replace(app.biz, settings=b2b_settings)
    customer = await join(app, app.user(5001, "en"))
    async with b2b.db.write() as session:
        session.add(_score(customer.id, app.clock.now(), rating=12))
    assert await tiers.run_daily(b2b) == {"customers": 1, "changed": 1}
    assert await _tier(app, 5001) == "strategic"
    await app.deliver()
    told = app.fake.texts(5001)[-1]
    assert "Strategic partner" in told and "a personal manager" in told and "faster service" in told


def _score(customer_id: int, now, rating: int) -> CustomerScore:
    return CustomerScore(
        customer_id=customer_id,
        computed_at=now,
        purchases=0,
        total_spend=Decimal(0),
        average_check=Decimal(0),
        recency=1,
        frequency=1,
        monetary=1,
        segment="x",
        lifecycle="x",
        lapsed=False,
        value="low",
        strategy="x",
        service="x",
        clv_method="x",
        rating_points=rating,
    )


def test_b2b_preset_needs_the_rating_scale(db_url: str) -> None:
    with pytest.raises(ConfigError, match=r"scoring\.rating_scale"):
        make_settings(db_url, tiers={"preset": "b2b"})


async def test_b2b_strategic_partner_earns_the_higher_rate(
    b2b_settings: Settings, app: App
) -> None:
    """seed 002 benefits are real earn rates, not only perk text: «Стратегический
    партнер: … Система накопительных скидок»; «Постоянный клиент: … Накопительные
    скидки»; «Стандартный клиент: Стандартные скидки». The b2b preset gives standard the
    programme's rate (loyalty.earn_percent, 5% here) and the accumulating discounts to
    regular (7%) and strategic (10%) customers, from config."""
    b2b = app.variant(b2b_settings)
    ladder = {t.code: tiers.earn_percent(b2b_settings, t.code) for t in b2b_settings.tiers.ladder}
    assert ladder == {
        "none": Decimal("5"), "standard": Decimal("5"),
        "regular": Decimal("7"), "strategic": Decimal("10"),
    }  # fmt: skip
    customer = await join(b2b, b2b.user(5001, "en"))
    cashier = b2b.user(CASHIER, "en")
    await hire(b2b, cashier)
    async with b2b.biz.db.write() as session:
        session.add(_score(customer.id, app.clock.now(), rating=12))
    await tiers.run_daily(b2b.biz)
    assert await _tier(b2b, 5001) == "strategic"
    await cashier.send(f"/purchase {customer.card_code} 1000")
    async with b2b.biz.db.read() as session:
        earned = list(await session.scalars(select(Purchase.points_earned)))
    assert earned == [100], "10% of 1000 at the strategic partner's rate"

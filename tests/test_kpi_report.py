"""The owner's /kpi report against numbers worked out by hand with seed 004's formula."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bot.db.models import Customer
from tests.conftest import make_settings
from tests.support.harness import App
from tests.support.seed_data import add_customer


async def test_crr_by_hand(app: App, db_url: str) -> None:
    """seed 004: «CRR=(E-N)*100%/S; где E = количество покупателей на конец периода;
    N = количество новых покупателей за период; S = количество покупателей на начало
    периода». Period: the last 30 days; active = bought within 60 days before a moment.

    A bought 50 and 10 days ago (active at start and end); B only 80 days ago (active at
    the start, not at the end: churned); C first bought 5 days ago (new); D 45 days ago
    (active at both moments without buying in the period).
    S = {A, B, D} = 3, E = {A, C, D} = 3, N = {C} = 1 → CRR = (3 − 1) / 3 = 66.7 %,
    churn = 1/3 = 33.3 %; purchases in the period 2 (A 300, C 100) by 2 buyers, of whom
    A has 2 purchases → repeat rate 50 %, average check 200. Referrals: friends referred
    by a customer who joined 3, 29, 31 and 100 days ago → 2 in the period."""
    settings = make_settings(db_url, scoring={"active_window_days": 60})
    variant = app.variant(settings)
    biz, owner = variant.biz, variant.owner
    now = app.clock.now()
    await add_customer(biz.db, now, "A", purchases=[(50, "500"), (10, "300")])
    await add_customer(biz.db, now, "B", purchases=[(80, "700")])
    await add_customer(biz.db, now, "C", purchases=[(5, "100")])
    await add_customer(biz.db, now, "D", purchases=[(45, "50")])
    await add_customer(biz.db, now, "refunded", purchases=[(3, "999")], refunded=True)
    a = await add_customer(biz.db, now, "A2", purchases=[])
    for joined in (3, 29, 31, 100):  # referred friends: two joined within the 30 days
        friend = await add_customer(biz.db, now, f"F{joined}", joined_days_ago=joined)
        async with biz.db.write() as session:
            await session.execute(
                update(Customer).where(Customer.id == friend).values(referred_by=a)
            )
    await owner.send("/kpi")
    report = app.fake.last(1000).text
    assert "(S) 3, at the end (E) 3, new (N) 1" in report
    assert "CRR = (E − N) / S: 66.7%" in report
    assert "Churn: 33.3%" in report and "Repeat purchases: 50.0%" in report
    assert "Purchases 2 by 2 customers, 1.00 each" in report
    assert "Average check: RUB200.00" in report or "Average check: ₽200.00" in report
    assert "Referred friends who joined: 2" in report


@pytest.mark.parametrize("arg", ["0", "-5", "abc", "99999", "3651", "1 2"])
async def test_bad_period(app: App, arg: str) -> None:
    before = await app.counts(include_audit=True)
    await app.owner.send(f"/kpi {arg}")
    assert "days from 1 to 3650" in app.fake.last(1000).text
    assert await app.counts(include_audit=True) == before


async def test_no_customers(app: App) -> None:
    await app.owner.send("/kpi 7")
    assert "no active customers at the start" in app.fake.last(1000).text

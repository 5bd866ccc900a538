"""The owner's /kpi report against numbers worked out by hand with seed 004's formula."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta

import numpy as np
import pytest
from sqlalchemy import select, update

import scoring
from bot.db.models import Customer, Purchase
from bot.services.insight.kpis import period_report
from tests.conftest import BACKENDS, make_settings
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


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("days", [1, 30, 400])
async def test_sql_summary_equals_the_purchase_level_computation(app: App, days: int) -> None:
    """/kpi groups per customer in SQL; the same purchases, dated in Python in the
    business's zone and passed one by one to ``scoring.period_kpis``, give the same KPIs."""
    rng = np.random.default_rng(days)
    now = app.clock.now()
    for n in range(25):
        history = [
            (float(d), f"{rng.integers(1, 5000)}.{rng.integers(0, 99):02d}")
            for d in rng.uniform(0, 900, size=rng.integers(0, 8))
        ]
        await add_customer(app.biz.db, now, f"C{n}", purchases=history, refunded=n % 7 == 3)
    zone = app.biz.settings.business.zone
    end = now.astimezone(zone).date() + timedelta(days=1)
    window = app.biz.settings.scoring.active_window_days
    for k, boundary in enumerate((end - timedelta(days=days), end - timedelta(days=window))):
        # purchases just before and after local midnight, where UTC dates differ
        midnight = datetime.combine(boundary, time(), zone)
        near = [midnight + timedelta(minutes=m) for m in (-150, -30, 30, 150)]
        await add_customer(
            app.biz.db,
            now,
            f"B{k}",
            purchases=[((now - t) / timedelta(days=1), "100") for t in near if t < now],
        )
    report = await period_report(app.biz, days)
    async with app.biz.db.read() as session:
        live = [p for p in await session.scalars(select(Purchase)) if p.refunded_amount < p.amount]
    expected = scoring.period_kpis(
        [p.customer_id for p in live],
        np.array([p.created_at.astimezone(zone).date() for p in live], dtype="datetime64[D]"),
        [float(p.amount - p.refunded_amount) for p in live],
        start=np.datetime64(end - timedelta(days=days), "D"),
        end=np.datetime64(end, "D"),
        active_window_days=app.biz.settings.scoring.active_window_days,
        referral_dates=np.array([], dtype="datetime64[D]"),
    )
    assert report.purchases > 0 or days == 1
    for field in dataclasses.fields(expected):
        ours, theirs = getattr(report, field.name), getattr(expected, field.name)
        if isinstance(theirs, float):
            assert ours == pytest.approx(theirs), field.name
        else:
            assert ours == theirs, field.name

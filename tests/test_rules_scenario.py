"""Earn rules crossed with referral, punch card, refund, tiers, a new version and expiry,
through the dispatcher on a controlled clock; every figure hand-computed below, and at
every step each cached balance equals its ledger sum.

Settings: earn 5 % at Base, 7 % at Silver (from 30 000 in 12 months); referral 300 / 150
on a first purchase of at least 500; expiry 12 months; notice 14 days. Version 1 (from
15 Jan 2026): tyres ×2 in January; ×1.5 on Thursdays 14:00-16:00 (local, Moscow); every
3rd wash +100; +20 for an oil visit. Day 0 = Thursday 15 Jan 2026, 15:00 local.

day  event                                                         Boris   Anna
  0  tyres 1 000: 50 × 2 × 1.5 = 150; referral +150 / +300         300     300
  1  wash 400: 20 (card 1 of 3)                                    320
  2  wash 400: 20 (2 of 3)                                         340
  3  wash 400: 20 + 100 (3 of 3)                                   460
  4  oil 200: 10 + 20 bonus                                        490
  5  refund half of the 3rd wash: 120 × 200 / 400 = 60 back        430
  6  tyres 28 000 (Wednesday) at Base: 1 400 × 2 = 2 800;
     spend 30 200 -> Silver                                        3230
  7  tyres 1 000 (Thursday) at Silver: 70 × 2 × 1.5 = 210          3440
 17  tyres 1 000 (Sunday 1 Feb): January is over: 70               3510
 17  version 2 drops the oil bonus: refused from day 22 (under 14
     days' notice), published from day 36; Boris (oil) is told
 37  oil 200 at Silver: 14, no bonus                               3524
365  day 0's lots expire: Boris 150 + 150, Anna 300                3224    0
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.db.models import LedgerEntry, OutboxMessage, Purchase, RuleVersion
from bot.services.errors import ServiceError
from bot.services.money import expiry
from bot.services.rules.publish import publish_text
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, ANNA, BORIS = 6001, 5001, 5002

VERSION_1 = """starts = 2026-01-15
[[rule]]
name = "tyres-january"
kind = "multiplier"
factor = 2
tags = ["tyres"]
starts = 2026-01-01
ends = 2026-01-31
[[rule]]
name = "thursday"
kind = "promotion"
factor = 1.5
weekdays = ["thu"]
hours = "14:00-16:00"
[[rule]]
name = "wash3"
kind = "punch"
tags = ["wash"]
every = 3
reward = "points"
points = 100
"""
OIL_BONUS = """[[rule]]
name = "oil-visit"
kind = "bonus"
tags = ["oil"]
points = 20
"""


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        referral={"referrer_points": 300, "referred_points": 150, "min_purchase": "500"},
        expiry={"months": 12, "warn_days": 14},
        rules={"notice_days": 14},
    )


async def _versions(app: App) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(RuleVersion)) or 0)


async def test_rules_with_referral_punch_card_refund_tiers_versions_and_expiry(app: App) -> None:
    anna = await join(app, app.user(ANNA, "en"), name="Anna")
    boris_user = app.user(BORIS, "en")
    boris = await join(app, boris_user, name="Boris", invited_by=anna.card_code)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()
    await publish_text(app.biz, VERSION_1 + OIL_BONUS)

    async def on_day(day: int) -> None:
        app.clock.current = start + timedelta(days=day)

    async def check(boris_balance: int, anna_balance: int | None = None) -> None:
        b, a = await app.customer(id=boris.id), await app.customer(id=anna.id)
        assert b is not None and a is not None
        assert b.balance == boris_balance
        assert anna_balance is None or a.balance == anna_balance
        assert await app.balance_consistent()

    code = boris.card_code
    await cashier.send(f"/purchase {code} 1000 tyres")
    await check(300, 300)
    for day, balance in ((1, 320), (2, 340), (3, 460)):
        await on_day(day)
        await cashier.send(f"/purchase {code} 400 wash")
        await check(balance)
    assert "balance 460.\nPunch card: 3 of 3" in app.fake.last(CASHIER).text  # its own line
    await on_day(4)
    await cashier.send(f"/purchase {code} 200 oil")
    await check(490)
    await on_day(5)
    await cashier.send("/refund 4 200")
    await check(430)
    await on_day(6)
    await cashier.send(f"/purchase {code} 28000 tyres")
    await check(3230)
    assert (await app.customer(id=boris.id)).tier == "silver"  # type: ignore[union-attr]
    await on_day(7)
    await cashier.send(f"/purchase {code} 1000 tyres")
    await check(3440)
    await on_day(17)
    await cashier.send(f"/purchase {code} 1000 tyres")
    await check(3510)

    await _second_version(app, boris_user)
    await on_day(37)
    await cashier.send(f"/purchase {code} 200 oil")
    await check(3524)

    async with app.biz.db.read() as session:
        earned = list(await session.scalars(select(Purchase.points_earned).order_by(Purchase.id)))
        rule_bonus = await session.scalars(
            select(LedgerEntry.reason).where(LedgerEntry.reason.like("rule %"))
        )
        reasons = sorted(rule_bonus)
    assert earned == [150, 20, 20, 120, 30, 2800, 210, 70, 14]
    assert reasons == ["rule oil-visit", "rule wash3"]

    on_365 = start + timedelta(days=365)
    app.clock.current = on_365 - timedelta(days=1)
    assert (await expiry.run_daily(app.biz))["expired"] == 0
    app.clock.current = on_365
    assert (await expiry.run_daily(app.biz))["expired"] == 600
    await check(3224, 0)


async def _second_version(app: App, boris_user: object) -> None:
    """Version 2 takes the oil bonus away: from day 22 it is refused (under 14 days'
    notice) and writes nothing; from day 36 it is published, Boris, who bought oil, is
    told at once, and /program shows the version in force and the next one. «Клиент должен
    быть уверен в том, что он не забыт при внедрении новых акций или скидок.»"""
    before = await app.counts()
    with pytest.raises(ServiceError) as refused:
        await publish_text(app.biz, VERSION_1.replace("2026-01-15", "2026-02-06", 1))
    assert refused.value.code == "rules_notice_short"
    assert await app.counts() == before and await _versions(app) == 1
    done = await publish_text(app.biz, VERSION_1.replace("2026-01-15", "2026-02-20", 1))
    assert (done.takes_away, done.told) == (True, 1)
    async with app.biz.db.read() as session:
        told = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.chat_id == BORIS)
        )
    assert told
    await app.deliver()
    assert any("rules change on" in c.text for c in app.fake.sent(BORIS))
    await boris_user.send("/program")  # type: ignore[attr-defined]
    page = app.fake.last(BORIS).text
    assert "Earn rules</b> (version 1, since Jan 15, 2026)" in page
    assert "From Feb 20, 2026</b> (version 2)" in page
    assert "+20 points a visit on oil" in page

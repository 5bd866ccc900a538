"""The money rules together (issue 9, section 2): referral × tier × redemption × refund ×
expiry over fourteen months on a controlled clock, through the dispatcher. At every step
each cached balance equals its ledger sum, and the totals equal the hand computation
written out below: no point appears from nothing and none is lost.

Settings: earn 5 % at Base, 7 % at Silver (retail preset: from 30 000 in 12 months, grace
30 days); referral 300 / 150 on a first purchase of at least 500; expiry 12 months.

Hand computation (day 0 = 15 Jan 2026; "lot" = points and the day they expire):

day  event                                                  Boris   Anna
  0  №1 400 (below the minimum: no referral)    earn 20      20      0
 10  №2 1000 qualifies: earn 50, bonus 150 / 300             220     300
 20  №3 28 700 at Base: 1 435; spend 30 100 -> Silver        1655    300
 30  №4 600 paid with 100 points (FIFO: 20 of №1, 50 of №2,
     30 of the bonus), 500 in money at Silver 7 %: 35        1590    300
 35  Anna pays 250                                           1590    50
 40  refund №2: −50 (its earn lot is spent: taken from its
     bonus lot), referral −150 (its bonus lot's last 70, then
     80 of №3's lot); Anna −50, 250 not recovered (audited);
     spend 29 700 -> below Silver, grace starts               1390    0
 50  refund №4: +100 back at their old dates (20 to day 365,
     80 to day 375), −35 (№4's own lot)                      1455    0
 60  №5 500 during grace, still Silver 7 %: 35               1490    0
 70  grace over: Base
 71  №6 1000 at Base 5 %: 50                                 1540    0
365  20 expire (№1's date, given back on day 50)             1520
375  80 expire (№2's and the bonus's date, given back)       1440
380  Boris pays 10 (from №3's lot, the first to expire)      1430
385  №3's lot expires: 1 435 − 80 − 10 = 1 345               85
425  №5's 35 expire                                          50
436  №6's 50 expire                                          0
Boris: credited 20+50+1435+35+35+50 earned + 150 bonus + 100 given back = 1875;
debited 100+10 paid + 50+150+35 reversed + 20+80+1345+35+50 expired = 1875.
Anna: credited 300; debited 250 paid + 50 reversed = 300.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import LedgerEntry, Purchase
from bot.services.money import expiry, tiers
from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, ANNA, BORIS = 6001, 5001, 5002


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        referral={"referrer_points": 300, "referred_points": 150, "min_purchase": "500"},
        expiry={"months": 12, "warn_days": 14},
    )


async def _confirm(app: App, user: ChatUser) -> None:
    """Press Confirm on the newest redemption prompt (a transactional message leaves before
    bulk ones queued earlier, so it need not be the last message delivered)."""
    await app.deliver()
    # the prompt is transactional: it overtakes bulk messages queued before it (expiry
    # warnings), so it is the newest message with the button, not the last one
    prompt = next(
        call
        for call in reversed(app.fake.sent(user.user_id))
        if any("Confirm" in label for label, _ in buttons(call))
    )
    await user.click(find_button(prompt, "Confirm"), prompt)


async def _totals(app: App, customer_id: int) -> dict[str, int]:
    """Points by kind, reversals split by sign ("reversal+" gives back, "reversal-" takes)."""
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(LedgerEntry.kind, LedgerEntry.points).where(
                LedgerEntry.customer_id == customer_id
            )
        )
        totals: dict[str, int] = {}
        for kind, points in rows.all():
            name = kind if kind != "reversal" else f"reversal{'+' if points > 0 else '-'}"
            totals[name] = totals.get(name, 0) + points
        return totals


async def test_refund_referral_tier_expiry_and_redemption_together(app: App) -> None:
    anna_user, boris_user = app.user(ANNA, "en"), app.user(BORIS, "en")
    anna = await join(app, anna_user, name="Anna")
    boris = await join(app, boris_user, name="Boris", invited_by=anna.card_code)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()

    async def on_day(day: int) -> None:
        app.clock.current = start + timedelta(days=day)

    async def check(boris_balance: int, anna_balance: int) -> None:
        b, a = await app.customer(id=boris.id), await app.customer(id=anna.id)
        assert b is not None and a is not None
        assert (b.balance, a.balance) == (boris_balance, anna_balance)
        assert await app.balance_consistent()

    async def expire(day: int, points: int) -> None:
        await on_day(day)
        assert (await expiry.run_daily(app.biz))["expired"] == points, f"day {day}"
        assert (await expiry.run_daily(app.biz))["expired"] == 0, "a rerun expires nothing"

    code = boris.card_code
    await cashier.send(f"/purchase {code} 400")
    await check(20, 0)
    await on_day(10)
    await cashier.send(f"/purchase {code} 1000")
    await check(220, 300)
    await on_day(20)
    await cashier.send(f"/purchase {code} 28700")
    assert (await app.customer(id=boris.id)).tier == "silver"  # type: ignore[union-attr]
    await check(1655, 300)
    await on_day(30)
    await cashier.send(f"/redeem {code} 100 600")
    await _confirm(app, boris_user)
    await check(1590, 300)
    await on_day(35)
    await cashier.send(f"/redeem {anna.card_code} 250")
    await _confirm(app, anna_user)
    await check(1590, 50)
    await on_day(40)
    await cashier.send("/refund 2")
    await check(1390, 0)
    await on_day(50)
    await cashier.send("/refund 4")
    await check(1455, 0)
    await on_day(60)
    await cashier.send(f"/purchase {code} 500")
    await check(1490, 0)
    await on_day(70)
    await tiers.run_daily(app.biz)
    assert (await app.customer(id=boris.id)).tier == "base"  # type: ignore[union-attr]
    await on_day(71)
    await cashier.send(f"/purchase {code} 1000")
    await check(1540, 0)
    async with app.biz.db.read() as session:
        earned = list(await session.scalars(select(Purchase.points_earned).order_by(Purchase.id)))
    assert earned == [20, 50, 1435, 35, 35, 50]

    await expire(364, 0)
    await expire(365, 20)
    await check(1520, 0)
    await expire(375, 80)
    await on_day(380)
    await cashier.send(f"/redeem {code} 10")
    await _confirm(app, boris_user)
    await check(1430, 0)
    await expire(384, 0)
    await expire(385, 1345)
    await check(85, 0)
    await expire(425, 35)
    await expire(436, 50)
    await check(0, 0)

    assert await _totals(app, boris.id) == {
        "earn": 20 + 50 + 1435 + 35 + 35 + 50,
        "bonus": 150,
        "reversal+": 100,
        "redeem": -(100 + 10),
        "reversal-": -(50 + 150 + 35),
        "expire": -(20 + 80 + 1345 + 35 + 50),
    }
    assert await _totals(app, anna.id) == {"bonus": 300, "redeem": -250, "reversal-": -50}

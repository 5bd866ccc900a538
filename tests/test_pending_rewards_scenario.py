"""Pending points × rewards × refund × referral × kept tiers × expiry, through the
dispatcher on a controlled clock. Seed 002, retention level 1: «Финансовая (бонусные
системы…)»; the catalogue's «мойка бесплатно — 300 баллов». At every step each cached
balance equals its ledger sum, what can be spent is checked by hand, and the totals at the
end equal the hand computation below: a refund inside the return window, a redemption and
expiry together make no point from nothing.

Settings: Base 5 %, Silver 10 % (enter at 10 000 in 12 months, keep at 6 000, grace 10
days, told 3 days before it ends); points pending 14 days; referral 100 / 50 on a first
purchase of at least 500; expiry 12 months; reward ``wash`` = 300 points.

Hand computation (day 0 = 15 Jan 2026; B = Boris: balance / spendable / pending):

day  event                                                           B
  0  №1 1 000 at Base: earn 50 pending to day 14; bonus 50 (Anna 100)  100 / 50 / 50
     /reward wash refused (50 spendable), nothing written
  1  №2 10 000 at Base: 500 pending to day 15; spend 11 000 -> Silver   600 / 50 / 550
     Anna pays her 100
  2  Boris pays 50; /redeem 1 refused (0 spendable, 550 pending)        550 / 0 / 550
  3  refund №1 inside the window: −50 from its pending points; the
     referral is reversed: Boris −50 (out of №2's pending points:
     pending is capped by the balance), Anna 0 of 100 (shortfall)       450 / 0 / 450
 10  /reward wash refused: nothing spendable yet                        450 / 0 / 450
 15  №2's points become spendable; Boris takes the wash: −300           150 / 150 / 0
 16  refund 2 000 of №2 outside the window: −100 spendable; spend
     8 000: under Silver's entry, above its keep: Silver stays           50 / 50 / 0
 17  №3 1 000 at Silver 10 %: 100 pending to day 31; /reward refused    150 / 50 / 100
 20  refund №3 inside the window: −100 from its pending points           50 / 50 / 0
 21  refund 3 000 more of №2: owes 150, −50 taken (100 shortfall);
     spend 5 000 under the keep threshold: grace to day 31               0 / 0 / 0
 27  keep notice: nobody yet (3 days before day 31 is day 28)
 28  Boris is told: 1 000 more keeps Silver; a rerun tells nobody
 31  grace over: Base
 32  №4 2 000 at Base: 100 pending to day 46; spend 7 000 is above the
     keep threshold but re-entry takes the entry one: still Base         100 / 0 / 100
 33  №5 3 000 at Base: 150 pending to day 47; spend 10 000 -> Silver     250 / 0 / 250
 47  all spendable; Boris pays 100 (FIFO: №4's lot)                     150 / 150 / 0
 33 + 12 months: №5's lot (150) expires                                  0 / 0 / 0
Boris: credited 50+500+100+100+150 earned + 50 bonus = 950; debited 50+300+100 paid +
50+50+100+50+100 reversed + 150 expired = 950. Anna: credited 100; debited 100 paid.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import AuditEntry, LedgerEntry
from bot.services.members import profile
from bot.services.money import expiry, tier_keeping, tiers
from bot.testing.telegram_double import ChatUser, buttons, find_button
from scoring.calendar import add_months
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App
from tests.test_lean_purchase import MAX_STATEMENTS, statements

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, ANNA, BORIS = 6001, 5001, 5002
LEVELS = [
    {"code": "base", "names": {"ru": "Базовый", "en": "Base"}},
    {
        "code": "silver", "names": {"ru": "Серебряный", "en": "Silver"}, "earn_percent": "10",
        "min_spend": "10000", "keep_spend": "6000",
    },
]  # fmt: skip
WASH = {"code": "wash", "names": {"ru": "Мойка бесплатно", "en": "Free wash"}, "points": 300}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        loyalty={"pending_days": 14, "rewards": [WASH]},
        tiers={"levels": LEVELS, "grace_days": 10, "keep_notice_days": 3},
        referral={"referrer_points": 100, "referred_points": 50, "min_purchase": "500"},
        expiry={"months": 12, "warn_days": 14},
    )


async def _confirm(app: App, user: ChatUser) -> None:
    await app.deliver()
    prompt = next(
        call
        for call in reversed(app.fake.sent(user.user_id))
        if any("Confirm" in label for label, _ in buttons(call))
    )
    await user.click(find_button(prompt, "Confirm"), prompt)


async def _totals(app: App, customer_id: int) -> dict[str, int]:
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


async def test_pending_points_rewards_refunds_and_kept_tiers_together(app: App) -> None:
    anna_user, boris_user = app.user(ANNA, "en"), app.user(BORIS, "en")
    anna = await join(app, anna_user, name="Anna")
    boris = await join(app, boris_user, name="Boris", invited_by=anna.card_code)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()
    code = boris.card_code

    def on_day(day: int) -> None:
        app.clock.current = start + timedelta(days=day)

    async def check(balance: int, spendable: int, pending: int, anna_balance: int = 0) -> None:
        summary = await profile.balance(app.biz, BORIS)
        assert (summary.balance, summary.available, summary.pending) == (
            balance, spendable, pending,
        )  # fmt: skip
        a = await app.customer(id=anna.id)
        assert a is not None and a.balance == anna_balance
        assert await app.balance_consistent()

    async def refused(command: str, words: str) -> None:
        before = await app.counts()
        await cashier.send(command)
        assert words in app.fake.last(CASHIER).text, app.fake.last(CASHIER).text
        assert await app.counts() == before, "a refusal writes nothing"

    async def tier() -> str | None:
        found = await app.customer(id=boris.id)
        assert found is not None
        return found.tier

    await cashier.send(f"/purchase {code} 1000")
    await check(100, 50, 50, anna_balance=100)
    await refused(f"/reward {code} wash", "50 can be spent")
    await boris_user.send("/balance")
    shown = app.fake.last(BORIS).text
    assert "Spendable now: <b>50</b>; 50 points more wait" in shown, shown
    await boris_user.send("/program")
    assert "can be spent after 14 days" in app.fake.last(BORIS).text
    on_day(1)
    await cashier.send(f"/purchase {code} 10000")
    assert await tier() == "silver"
    await check(600, 50, 550, anna_balance=100)
    await cashier.send(f"/redeem {anna.card_code} 100")
    await _confirm(app, anna_user)
    on_day(2)
    await cashier.send(f"/redeem {code} 50")
    await _confirm(app, boris_user)
    await check(550, 0, 550)
    await refused(f"/redeem {code} 1", "550 points more become spendable")
    on_day(3)
    await cashier.send("/refund 1")
    await check(450, 0, 450)
    on_day(10)
    await refused(f"/reward {code} wash", "0 can be spent")
    on_day(15)
    await check(450, 450, 0)
    await cashier.send(f"/reward {code} wash")
    await _confirm(app, boris_user)
    await app.deliver()
    assert "“Free wash” is yours!" in app.fake.last(BORIS).text
    await check(150, 150, 0)
    on_day(16)
    await cashier.send("/refund 2 2000")
    await check(50, 50, 0)
    b = await app.customer(id=boris.id)
    assert b is not None and b.tier == "silver" and b.below_tier_since is None, "kept"
    on_day(17)
    await cashier.send(f"/purchase {code} 1000")
    await check(150, 50, 100)
    await refused(f"/reward {code} wash", "100 points more become spendable")
    on_day(20)
    await cashier.send("/refund 3")
    await check(50, 50, 0)
    on_day(21)
    await cashier.send("/refund 2 3000")
    await check(0, 0, 0)

    on_day(27)
    assert (await tier_keeping.run_daily(app.biz))["told"] == 0
    on_day(28)
    assert (await tier_keeping.run_daily(app.biz))["told"] == 1
    assert (await tier_keeping.run_daily(app.biz))["told"] == 0, "a rerun tells nobody"
    await app.deliver()
    told = app.fake.last(BORIS).text
    assert "Silver" in told and "1,000" in told, told
    on_day(31)
    await tiers.run_daily(app.biz)
    assert await tier() == "base"
    on_day(32)
    await cashier.send(f"/purchase {code} 2000")
    assert await tier() == "base", "re-entry takes the entry threshold, not the keep one"
    await check(100, 0, 100)
    on_day(33)
    await cashier.send(f"/purchase {code} 3000")
    assert await tier() == "silver"
    await check(250, 0, 250)
    on_day(47)
    await check(250, 250, 0)
    await cashier.send(f"/redeem {code} 100")
    await _confirm(app, boris_user)
    await check(150, 150, 0)

    last_lot = (add_months(start + timedelta(days=33), 12) - start).days
    on_day(last_lot - 1)
    assert (await expiry.run_daily(app.biz))["expired"] == 0
    on_day(last_lot)
    assert (await expiry.run_daily(app.biz))["expired"] == 150
    assert (await expiry.run_daily(app.biz))["expired"] == 0, "a rerun expires nothing"
    await check(0, 0, 0)

    assert await _totals(app, boris.id) == {
        "earn": 50 + 500 + 100 + 100 + 150,
        "bonus": 50,
        "redeem": -(50 + 300 + 100),
        "reversal-": -(50 + 50 + 100 + 50 + 100),
        "expire": -150,
    }
    assert await _totals(app, anna.id) == {"bonus": 100, "redeem": -100}
    async with app.biz.db.read() as session:
        reasons = list(
            await session.scalars(
                select(LedgerEntry.reason).where(
                    LedgerEntry.customer_id == boris.id, LedgerEntry.kind == "redeem"
                )
            )
        )
        shortfalls = list(
            await session.scalars(select(AuditEntry.details).where(AuditEntry.action == "refund"))
        )
    assert reasons.count("reward:wash") == 1
    assert [d["shortfall"] for d in shortfalls] == [0, 0, 0, 100]


async def test_points_paid_purchase_refunded_inside_the_window(app: App) -> None:
    """A purchase of 1 000 paid with 100 points: its 900 in money earn 45, pending. Refunded
    in part, then in full, inside the window: the points paid come back spendable at once,
    the earned ones leave the pending part; the window then closes on nothing."""
    user = app.user(BORIS, "en")
    boris = await join(app, user, name="Boris")
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await app.owner.send(f"/adjust {boris.card_code} +200 gift")
    await cashier.send(f"/redeem {boris.card_code} 100 1000")
    await _confirm(app, user)

    async def check(balance: int, spendable: int, pending: int) -> None:
        summary = await profile.balance(app.biz, BORIS)
        assert (summary.balance, summary.available, summary.pending) == (
            balance, spendable, pending,
        )  # fmt: skip
        assert await app.balance_consistent()

    await check(145, 100, 45)
    app.clock.advance(timedelta(days=5))
    await cashier.send("/refund 1 500")  # half: +50 paid back, −22 of the 45 pending
    await check(173, 150, 23)
    await cashier.send("/refund 1")  # the rest: +50, −23
    await check(200, 200, 0)
    before = await app.counts()
    await cashier.send(f"/redeem {boris.card_code} 201")
    assert await app.counts() == before, "no point appeared"
    app.clock.advance(timedelta(days=10))
    await check(200, 200, 0)
    assert await _totals(app, boris.id) == {
        "adjustment": 200, "redeem": -100, "earn": 45, "reversal+": 100, "reversal-": -45,
    }  # fmt: skip


async def test_a_pending_purchase_costs_no_extra_statement(app: App) -> None:
    """Pending is a property of the earn entry (``available_at``), not another write: the
    plain purchase stays within the lean path's statements."""
    user = app.user(BORIS, "en")
    boris = await join(app, user, name="Boris")
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {boris.card_code} 100")  # warm: statements built once
    with statements(app.biz.db) as sent:
        await cashier.send(f"/purchase {boris.card_code} 2000")
    assert len(sent) <= MAX_STATEMENTS, "\n".join(sent)
    async with app.biz.db.read() as session:
        entry = await session.scalar(
            select(LedgerEntry).where(LedgerEntry.kind == "earn").order_by(LedgerEntry.id.desc())
        )
    assert entry is not None and entry.points == 100
    assert entry.available_at == app.clock.now() + timedelta(days=14)

"""Points expiry on a controlled clock (SPEC.md, Ledger: "Points expire FIFO after the
configured months, with a warning first"): the oldest points are spent and expire first,
a warning goes out through the outbox ahead of time, and a job killed half-way and run
again neither warns nor expires twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.db.models import LedgerEntry, OutboxMessage
from bot.services.money import expiry
from bot.testing.telegram_double import find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER = 6001


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, expiry={"months": 12, "warn_days": 14})


async def _warnings(app: App, customer_id: int) -> int:
    async with app.biz.db.read() as session:
        rows = await session.scalars(
            select(OutboxMessage.text).where(OutboxMessage.customer_id == customer_id)
        )
        return sum(1 for text in rows if text and "Points expiring on" in text)


async def test_fifo_expiry_with_warning(app: App) -> None:
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()  # 15 Jan 2026
    await cashier.send(f"/purchase {customer.card_code} 1000")  # lot A: 50
    app.clock.advance(timedelta(days=90))
    await cashier.send(f"/purchase {customer.card_code} 2000")  # lot B: 100
    await app.owner.send(f"/adjust {customer.card_code} -30 correction")  # from A first: 20 left

    app.clock.current = start + timedelta(days=365 - 10)  # A expires 15 Jan 2027
    assert await expiry.run_daily(app.biz) == {"customers": 1, "expired": 0, "warned": 20}
    assert await expiry.run_daily(app.biz) == {"customers": 1, "expired": 0, "warned": 0}
    await app.deliver()
    assert "Points expiring on Jan 15, 2027: 20." in app.fake.texts(5001)[-1]
    await ivan.send("/balance")
    expiring = "Expiring within 30 days: 20 points (the first on Jan 15, 2027)"
    assert expiring in app.fake.last(5001).text

    app.clock.current = start + timedelta(days=365)
    assert await expiry.run_daily(app.biz) == {"customers": 1, "expired": 20, "warned": 0}
    assert await expiry.run_daily(app.biz) == {"customers": 1, "expired": 0, "warned": 0}
    after = await app.customer(telegram_id=5001)
    assert after is not None and after.balance == 100
    await app.deliver()
    assert "20 points expired" in app.fake.texts(5001)[-1]

    app.clock.current = start + timedelta(days=90 + 365 - 13)  # B: warned 14 days ahead
    assert await expiry.run_daily(app.biz) == {"customers": 1, "expired": 0, "warned": 100}
    app.clock.current = start + timedelta(days=90 + 366)
    assert await expiry.run_daily(app.biz) == {"customers": 1, "expired": 100, "warned": 0}
    async with app.biz.db.read() as session:
        kinds = (
            await session.execute(
                select(LedgerEntry.kind, LedgerEntry.points).order_by(LedgerEntry.id)
            )
        ).all()
    assert [tuple(k) for k in kinds] == [
        ("earn", 50),
        ("earn", 100),
        ("adjustment", -30),
        ("expire", -20),
        ("expire", -100),
    ]
    assert await app.balance_consistent()
    assert await _warnings(app, customer.id) == 2


async def test_spent_points_do_not_expire(app: App) -> None:
    customer = await join(app, app.user(5001, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 1000")  # 50
    await app.owner.send(f"/adjust {customer.card_code} -50 spent")
    app.clock.advance(timedelta(days=400))
    assert await expiry.run_daily(app.biz) == {"customers": 0, "expired": 0, "warned": 0}


async def test_restart_in_the_middle_of_the_job_sends_no_second_warning(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    people = [await join(app, app.user(5001 + n, "en"), name=f"C{n}") for n in range(3)]
    for person in people:
        await cashier.send(f"/purchase {person.card_code} 1000")
    app.clock.advance(timedelta(days=360))

    real = expiry.queue_for
    calls = 0

    async def crash_on_second(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        verdict = await real(*args, **kwargs)  # the warning is queued in the transaction ...
        if calls == 2:
            raise SystemExit("killed")  # ... which the kill never lets commit
        return verdict

    monkeypatch.setattr(expiry, "queue_for", crash_on_second)
    with pytest.raises(SystemExit):
        await expiry.run_daily(app.biz)
    monkeypatch.setattr(expiry, "queue_for", real)
    assert [await _warnings(app, p.id) for p in people] == [1, 0, 0]
    await expiry.run_daily(app.biz)  # the restarted process runs the job again
    await expiry.run_daily(app.biz)
    assert [await _warnings(app, p.id) for p in people] == [1, 1, 1]
    async with app.biz.db.read() as session:
        expired = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "expire")
        )
    assert expired == 0


async def _expiry_entries(app: App) -> list[tuple[int, str]]:
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(LedgerEntry.points, LedgerEntry.idempotency_key)
            .where(LedgerEntry.kind == "expire")
            .order_by(LedgerEntry.id)
        )
        return [(p, k) for p, k in rows.all()]


async def _balance(app: App, tg_id: int = 5001) -> int:
    customer = await app.customer(telegram_id=tg_id)
    assert customer is not None
    return customer.balance


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_refund_reversal_takes_the_refunded_purchase_s_own_points(app: App) -> None:
    """The reversal of a refunded purchase takes that purchase's points, not the oldest:
    the older points keep their own (earlier) expiry date."""
    customer = await join(app, app.user(5001, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()  # 15 Jan 2026
    await cashier.send(f"/purchase {customer.card_code} 1000")  # №1, lot A: 50, to 15 Jan 2027
    app.clock.current = start + timedelta(days=90)
    await cashier.send(f"/purchase {customer.card_code} 2000")  # №2, lot B: 100, to 15 Apr 2027
    app.clock.current = start + timedelta(days=100)
    await cashier.send("/refund 2")  # −100: lot B, all of it
    assert await _balance(app) == 50

    app.clock.current = start + timedelta(days=364)  # 14 Jan 2027: lot A is still there
    assert (await expiry.run_daily(app.biz))["expired"] == 0
    app.clock.current = start + timedelta(days=365)  # 15 Jan 2027: lot A expires
    assert (await expiry.run_daily(app.biz))["expired"] == 50
    assert await _balance(app) == 0
    app.clock.current = start + timedelta(days=90 + 366)  # after lot B's date: nothing left
    assert await expiry.run_daily(app.biz) == {"customers": 0, "expired": 0, "warned": 0}
    assert await _expiry_entries(app) == [(-50, "expire:1")]  # entry 1: lot A's earn
    assert await app.balance_consistent()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_points_given_back_by_a_refund_keep_their_expiry_date(app: App) -> None:
    """Points paid on a purchase and returned by its refund expire when the points they
    were paid with would have, even when that date has passed; the expiry job's keys stay
    unique (the original lot already expired in part) and a rerun changes nothing."""
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()  # 15 Jan 2026
    await cashier.send(f"/purchase {customer.card_code} 1000")  # lot A: 50, to 15 Jan 2027
    app.clock.current = start + timedelta(days=200)
    await cashier.send(f"/redeem {customer.card_code} 40 1000")  # 40 of lot A pay for №2
    await app.deliver()
    prompt = app.fake.last(5001)
    await ivan.click(find_button(prompt, "Confirm"), prompt)  # №2 earns 5% of 960: lot C 48
    assert await _balance(app) == 50 - 40 + 48

    app.clock.current = start + timedelta(days=365)  # lot A's date: its last 10 expire
    assert (await expiry.run_daily(app.biz))["expired"] == 10
    app.clock.current = start + timedelta(days=400)
    await cashier.send("/refund 2")  # +40 returned (lot A's date, passed), −48 (lot C)
    assert await _balance(app) == 40
    app.clock.current = start + timedelta(days=401)
    assert (await expiry.run_daily(app.biz))["expired"] == 40
    assert (await expiry.run_daily(app.biz))["expired"] == 0, "a rerun expires nothing"
    assert await _balance(app) == 0
    keys = [key for _, key in await _expiry_entries(app)]
    assert [p for p, _ in await _expiry_entries(app)] == [-10, -40]
    assert len(set(keys)) == 2 and keys[0] == "expire:1"
    assert await app.balance_consistent()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_returned_points_are_warned_about_once_before_their_date(app: App) -> None:
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()
    await cashier.send(f"/purchase {customer.card_code} 1000")  # lot A: 50, to 15 Jan 2027
    app.clock.current = start + timedelta(days=300)
    await cashier.send(f"/redeem {customer.card_code} 50 1000")  # all of lot A; №2: +47
    await app.deliver()
    prompt = app.fake.last(5001)
    await ivan.click(find_button(prompt, "Confirm"), prompt)
    app.clock.current = start + timedelta(days=355)  # lot A's points are gone: no warning
    assert (await expiry.run_daily(app.biz))["warned"] == 0
    await cashier.send("/refund 2 500")  # half: +25 back with lot A's date, −23 of lot C
    assert await _balance(app) == 50 - 50 + 47 + 25 - 23
    assert (await expiry.run_daily(app.biz))["warned"] == 25
    assert (await expiry.run_daily(app.biz))["warned"] == 0
    app.clock.current = start + timedelta(days=365)
    assert (await expiry.run_daily(app.biz))["expired"] == 25
    assert await _balance(app) == 47 - 23
    assert await app.balance_consistent()


async def test_warnings_go_through_contact_discipline(app: App) -> None:
    """Issue 11: "points-expiry warnings move onto this delivery": a customer who blocked
    the bot gets none; one due at night waits for the end of the quiet hours (09:00 in
    Moscow); opting out of marketing does not stop it (it is about their own points)."""
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    blocked = await join(app, app.user(5001, "en"), name="Blocked")
    opted_out = await join(app, app.user(5002, "en"), name="Quiet")
    for person in (blocked, opted_out):
        await cashier.send(f"/purchase {person.card_code} 1000")
    async with app.biz.db.write() as session:
        from bot.db.models import Customer

        for row in await session.scalars(select(Customer).where(Customer.id == blocked.id)):
            row.unreachable_at = app.clock.now()
        for row in await session.scalars(select(Customer).where(Customer.id == opted_out.id)):
            row.marketing_opt_in = False
    await app.deliver()
    start = app.clock.now()
    app.clock.current = start.replace(hour=20) + timedelta(days=360)  # 23:00 in Moscow
    assert (await expiry.run_daily(app.biz))["warned"] == 50  # the blocked customer's not
    assert await _warnings(app, blocked.id) == 0
    async with app.biz.db.read() as session:
        [warning] = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.customer_id == opted_out.id,
                                        OutboxMessage.kind == "expiry_warning")
        )  # fmt: skip
    assert warning.not_before == (start + timedelta(days=361)).replace(hour=6)  # 09:00 MSK
    assert await app.deliver() == 0
    app.clock.current = warning.not_before
    await app.deliver()
    assert "Points expiring on" in app.fake.texts(5002)[-1]

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
from bot.services import expiry
from tests.conftest import make_settings
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
        return sum(1 for text in rows if text and "expire on" in text)


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
    assert "20 of your points expire on Jan 15, 2027" in app.fake.texts(5001)[-1]
    await ivan.send("/balance")
    assert "20 points expire within 30 days (the first on Jan 15, 2027)" in app.fake.last(5001).text

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

    real = expiry.notify_customer
    calls = 0

    def crash_on_second(*args, **kwargs) -> None:
        nonlocal calls
        calls += 1
        real(*args, **kwargs)  # the warning is queued in the transaction ...
        if calls == 2:
            raise SystemExit("killed")  # ... which the kill never lets commit

    monkeypatch.setattr(expiry, "notify_customer", crash_on_second)
    with pytest.raises(SystemExit):
        await expiry.run_daily(app.biz)
    monkeypatch.setattr(expiry, "notify_customer", real)
    assert [await _warnings(app, p.id) for p in people] == [1, 0, 0]
    await expiry.run_daily(app.biz)  # the restarted process runs the job again
    await expiry.run_daily(app.biz)
    assert [await _warnings(app, p.id) for p in people] == [1, 1, 1]
    async with app.biz.db.read() as session:
        expired = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "expire")
        )
    assert expired == 0

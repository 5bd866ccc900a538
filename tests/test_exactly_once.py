"""A re-delivered update has no second effect: one ledger entry, one notification, and the
cashier sees "already recorded" with the original result (SPEC.md, Ledger; Rules that need
one answer: "A re-delivered update")."""

from __future__ import annotations

import asyncio

import pytest
from aiogram.types import Update
from sqlalchemy import func, select

from bot.db.engine import create_database
from bot.db.models import LedgerEntry, OutboxMessage, Purchase
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def _count(app: App, model: type) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_same_update_twice_at_once(app: App) -> None:
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    cashier = app.user(6001, "en")
    await hire(app, cashier)
    update = cashier.build_message(f"/purchase {customer.card_code} 2000")
    await asyncio.gather(cashier.feed(update), cashier.feed(update))
    assert await _count(app, Purchase) == 1
    assert await _count(app, LedgerEntry) == 1
    await app.deliver()
    told = [t for t in app.fake.texts(ivan.user_id) if "purchase of" in t]
    assert len(told) == 1, told
    replies = app.fake.texts(cashier.user_id)[-2:]
    assert sum("Already recorded" in r for r in replies) == 1, replies
    assert all("Purchase №1 recorded" in r for r in replies), replies
    assert await app.balance_consistent()


async def test_same_update_after_restart(app: App, db_url: str) -> None:
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    cashier = app.user(6001, "en")
    await hire(app, cashier)
    queued_before = await _count(app, OutboxMessage)  # e.g. the owner told of the hire
    update = cashier.build_message(f"/purchase {customer.card_code} 2000")
    await cashier.feed(update)
    await app.deliver()

    # A new process: new engine, new dispatcher, new Bot API connection; same database.
    restarted = await App.start(app.biz.settings, create_database(db_url), app.clock)
    try:
        again = restarted.user(6001, "en")
        # Telegram re-delivers the same JSON; parse it afresh for the new process's bot.
        redelivered = Update.model_validate(
            update.model_dump(mode="json", exclude_none=True), context={"bot": restarted.bot}
        )
        await again.feed(redelivered)
        await restarted.deliver()
        assert "Already recorded" in restarted.fake.last(6001).text
        assert restarted.fake.texts(ivan.user_id) == [], "the customer was told twice"
        assert await _count(restarted, Purchase) == 1
        assert await _count(restarted, LedgerEntry) == 1
        assert await _count(restarted, OutboxMessage) == queued_before + 1
    finally:
        await restarted.close()
        await restarted.biz.db.dispose()

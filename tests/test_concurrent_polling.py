"""Concurrent polling (bot/polling.py): many chats at once, one chat in order, and an
offset that never confirms an update before it is handled.

The Bot API double answers getUpdates as Telegram does (offset confirms, long poll), and
records the highest offset confirmed (``FakeTelegram.confirmed_offset``).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable

from aiogram.types import Update
from sqlalchemy import func, select

from bot.db.models import Purchase
from bot.polling import ConcurrentPoller, poll
from bot.testing.telegram_double import FakeTelegram, recording_bot
from tests.support.flows import hire, join
from tests.support.harness import App

SLOW_CHAT = 7000
QUICK_CHATS = range(7001, 7021)
ORDERED_CHAT = 7100


async def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _push(fake: FakeTelegram, chat: int, text: str) -> int:
    return int(fake.push_update(_update_json(chat, text))["update_id"])


def _update_json(chat: int, text: str) -> dict[str, object]:
    user = {"id": chat, "is_bot": False, "first_name": f"U{chat}", "language_code": "en"}
    message = {
        "message_id": random.randrange(1, 10**6),
        "date": 1_700_000_000,
        "chat": {"id": chat, "type": "private", "first_name": f"U{chat}"},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": message}


async def test_a_slow_chat_holds_up_nobody_and_is_never_confirmed_early() -> None:
    fake = FakeTelegram()
    bot = recording_bot(fake)
    gate = asyncio.Event()
    handled: dict[int, list[str]] = defaultdict(list)

    async def handle(update: Update) -> None:
        assert update.message is not None and update.message.text is not None
        chat = update.message.chat.id
        if chat == SLOW_CHAT:
            await gate.wait()
        elif chat == ORDERED_CHAT:
            await asyncio.sleep(random.uniform(0, 0.02))  # later ones may be quicker
        handled[chat].append(update.message.text)

    slow_id = _push(fake, SLOW_CHAT, "slow")
    for chat in QUICK_CHATS:
        _push(fake, chat, "quick")
    for n in range(10):
        _push(fake, ORDERED_CHAT, f"#{n}")
    poller = ConcurrentPoller(bot, handle, timeout=1, max_concurrent=8)
    task = asyncio.create_task(poller.run())
    try:
        await _until(lambda: all(handled[c] == ["quick"] for c in QUICK_CHATS))
        await _until(lambda: len(handled[ORDERED_CHAT]) == 10)
        assert handled[ORDERED_CHAT] == [f"#{n}" for n in range(10)]
        assert handled[SLOW_CHAT] == []
        # Everything after the slow update is done, but Telegram must keep the slow one:
        # the poller goes on polling, confirming exactly up to it.
        polls = len(fake.calls("getUpdates"))
        await _until(lambda: len(fake.calls("getUpdates")) >= polls + 2)
        assert fake.confirmed_offset == slow_id
        late = _push(fake, SLOW_CHAT, "after")  # the slow chat's next update waits its turn
        gate.set()
        await _until(lambda: handled[SLOW_CHAT] == ["slow", "after"])
        await _until(lambda: fake.confirmed_offset == late + 1)
        assert sum(len(v) for v in handled.values()) == 1 + len(QUICK_CHATS) + 10 + 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bot.session.close()


async def test_the_bot_polls_concurrently_through_its_own_dispatcher(app: App) -> None:
    """The production dispatcher on the poller: twenty strangers' /help and a cashier's
    purchases in one burst; every chat answered, every purchase recorded once."""
    customer = await join(app, app.user(5001, "en"))
    cashier = app.user(6001, "en")
    await hire(app, cashier)
    before = len(app.fake.sent())
    for chat in QUICK_CHATS:
        _push(app.fake, chat, "/help")
    for n in range(5):
        _push(app.fake, 6001, f"/purchase {customer.card_code} {100 + n}")
    task = asyncio.create_task(poll(app.dp, app.bot, timeout=1, max_concurrent=8))
    try:
        await _until(lambda: len(app.fake.sent()) - before >= len(QUICK_CHATS) + 5, 30)
        for chat in QUICK_CHATS:
            assert "/card" in app.fake.last(chat).text
        receipts = [c.text for c in app.fake.sent(6001)[-5:]]  # one chat: in order
        assert all(f"₽{100 + n}.00" in r for n, r in enumerate(receipts)), receipts
        await _until(lambda: app.fake.pending_updates == 0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    async with app.biz.db.read() as session:
        assert await session.scalar(select(func.count(Purchase.id))) == 5
    assert await app.balance_consistent()

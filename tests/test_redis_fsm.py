"""With `telegram.fsm_redis_url`, conversation state lives in Redis: a conversation started
on one bot process continues on another (SPEC.md, Running and scaling)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage

from bot.app import build_dispatcher
from bot.testing.telegram_double import ChatUser, find_button
from tests.support.flows import hire, join
from tests.support.harness import App

REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    if not REDIS_URL:
        pytest.skip("Redis tests need LOYALTY_TEST_REDIS_URL (set by .ci/run)")
    prefix = f"loyalty_test_{uuid.uuid4().hex[:8]}"
    yield prefix
    storage = RedisStorage.from_url(REDIS_URL)
    keys = [key async for key in storage.redis.scan_iter(f"{prefix}:*")]
    if keys:
        await storage.redis.delete(*keys)
    await storage.close()


def _storage(prefix: str) -> RedisStorage:
    assert REDIS_URL is not None
    return RedisStorage.from_url(REDIS_URL, key_builder=DefaultKeyBuilder(prefix=prefix))


async def test_card_input_continues_on_another_process(app: App, redis_prefix: str) -> None:
    """A cashier presses "Purchase" on a card (conversation state stored in Redis); the
    amount they type next is handled by another bot process."""
    customer = await join(app, app.user(5001, "en"), name="Anna")
    await hire(app, app.user(6001, "en"))
    first = build_dispatcher(app.biz, _storage(redis_prefix))
    cashier = ChatUser(first, app.bot, 6001, language_code="en")
    await cashier.send(f"/start c_{customer.card_code}")
    card = app.fake.last(6001)
    await cashier.click(find_button(card, "Purchase"), card)
    await first.storage.close()

    second = build_dispatcher(app.biz, _storage(redis_prefix))
    try:
        await ChatUser(second, app.bot, 6001, language_code="en").send("1 500")
    finally:
        await second.storage.close()
    assert "Purchase №1 recorded" in app.fake.last(6001).text

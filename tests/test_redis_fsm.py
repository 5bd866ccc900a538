"""With `telegram.fsm_redis_url`, conversation state lives in Redis: a sign-up started on
one bot process continues on another (SPEC.md, Running and scaling)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage

from bot.app import build_dispatcher
from bot.telegram_double import ChatUser, buttons
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


async def test_signup_continues_on_another_process(app: App, redis_prefix: str) -> None:
    first = build_dispatcher(app.biz, _storage(redis_prefix))
    anna = ChatUser(first, app.bot, 5001, language_code="en")
    await anna.send("/start")
    consent = app.fake.last(5001)
    await anna.click(buttons(consent)[0][1], consent)
    await anna.send_contact("+79161234567")
    await first.storage.close()

    second = build_dispatcher(app.biz, _storage(redis_prefix))
    try:
        await ChatUser(second, app.bot, 5001, language_code="en").send("Anna")
    finally:
        await second.storage.close()
    assert "Your card code is" in app.fake.last(5001).text
    customer = await app.customer(telegram_id=5001)
    assert customer is not None and customer.phone == "+79161234567"

"""With `telegram.fsm_redis_url`, conversation state lives in Redis: a conversation started
on one bot process continues on another (SPEC.md, Running and scaling)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_dispatcher
from bot.config import Settings
from bot.testing.telegram_double import ChatUser, find_button
from bot.web import SECRET_HEADER, build_web_app
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

REDIS_URL = os.environ.get("LOYALTY_TEST_REDIS_URL")
SECRET = "web-processes-share-this-secret"
PATH = "/telegram/webhook"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, web={"webhook_secret": SECRET, "webhook_path": PATH})


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


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_two_web_processes_share_one_sign_up(app: App, redis_prefix: str) -> None:
    """Two web processes (each its own dispatcher and webhook server, one Redis) get one
    customer's sign-up updates alternately, as a load balancer would send them: consent
    on one, the contact on the other, the name on the first; nothing is lost."""
    dps = [build_dispatcher(app.biz, _storage(redis_prefix)) for _ in range(2)]
    user = ChatUser(dps[0], app.bot, 5001, language_code="en")  # builds the updates
    servers = [build_web_app(app.biz, dp, app.bot) for dp in dps]
    async with TestClient(TestServer(servers[0])) as one, TestClient(TestServer(servers[1])) as two:

        async def post(client: TestClient[Any, Any], update: Update) -> None:
            body = update.model_dump(mode="json", exclude_none=True)
            response = await client.post(PATH, json=body, headers={SECRET_HEADER: SECRET})
            assert response.status == 200

        await post(one, user.build_message("/start"))
        consent = app.fake.last(5001)
        await post(two, user.build_callback(find_button(consent, "agree"), consent))
        await post(one, user.build_contact("+79165550101"))
        await post(two, user.build_message("Anna"))
    for dp in dps:
        await dp.storage.close()
    customer = await app.customer(telegram_id=5001)
    assert customer is not None and customer.name == "Anna" and customer.phone == "+79165550101"

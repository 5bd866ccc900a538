"""The bot works against any Bot API server named by `telegram.api_server`: here a local
HTTP double on 127.0.0.1, reached through aiogram's real aiohttp session."""

from __future__ import annotations

from bot.app import build_bot, build_dispatcher
from bot.config import Settings, settings_from_dict
from bot.db.engine import Database
from bot.delivery.sender import OutboxSender
from bot.testing.telegram_double import BotAPIServer, ChatUser, FakeTelegram, buttons
from tests.conftest import base_config
from tests.support.harness import App


async def test_purchase_over_http(settings: Settings, database: Database, app: App) -> None:
    fake = FakeTelegram()
    async with BotAPIServer(fake) as server:
        config = base_config(settings.database.url, telegram={"api_server": server.url})
        config["bot_token"] = fake.token
        http_settings = settings_from_dict(config, use_env=False)
        bot = build_bot(http_settings)
        biz = app.biz
        dp = build_dispatcher(biz)
        sender = OutboxSender(biz, bot)
        try:
            anna = ChatUser(dp, bot, 5001, language_code="en")
            await anna.send("/start")
            consent = fake.last(5001)
            await anna.click(buttons(consent)[0][1], consent)
            await anna.send_contact("+79161234567")
            await anna.send("Anna")
            customer = await app.customer(telegram_id=5001)
            assert customer is not None
            owner = ChatUser(dp, bot, 1000, language_code="en")
            await owner.send(f"/purchase {customer.card_code} 1000")
            await sender.drain()
        finally:
            await bot.session.close()
    assert "Purchase №1 recorded" in fake.last(1000).text
    assert "+50 points" in fake.last(5001).text
    assert all(call.method and call.status == 200 for call in fake.requests)
    assert app.fake.requests == [], "nothing went through the in-process session"

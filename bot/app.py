"""Wiring: business context, dispatcher with routers and middlewares, bot, polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from bot.background import BackgroundTasks
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db.engine import Database, create_database
from bot.db.migrate import check_schema
from bot.delivery.sender import OutboxSender
from bot.jobs import DAILY_JOBS
from bot.polling import poll
from bot.scheduler import build_scheduler
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.staff import sync_outlets
from bot.texts import Texts
from handlers import common, customer, errors, owner, staff
from handlers.commands import CommandError
from handlers.middlewares import ActorMiddleware, UpdateContextMiddleware

log = logging.getLogger(__name__)

PLACEHOLDER_TOKEN = "123456:OFFLINE-DEMO-TOKEN"


def build_business(
    settings: Settings,
    db: Database | None = None,
    clock: Clock | None = None,
    override_dir: Path | None = None,
) -> Business:
    return Business(
        settings=settings,
        db=db
        or create_database(
            settings.database.url, busy_timeout_ms=settings.database.busy_timeout_ms
        ),
        clock=clock or SystemClock(),
        texts=Texts(
            settings.business.currency,
            settings.business.default_language,
            override_dir=override_dir,
            timezone=settings.business.timezone,
        ),
    )


def build_storage(settings: Settings) -> BaseStorage:
    if settings.telegram.fsm_redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.telegram.fsm_redis_url)
    return MemoryStorage()


def build_dispatcher(biz: Business, storage: BaseStorage | None = None) -> Dispatcher:
    dp = Dispatcher(storage=storage or MemoryStorage(), biz=biz, background=BackgroundTasks())
    dp.update.outer_middleware(UpdateContextMiddleware())
    actor = ActorMiddleware()
    dp.message.outer_middleware(actor)
    dp.callback_query.outer_middleware(actor)
    dp.include_routers(
        common.make_router(), owner.make_router(), staff.make_router(), customer.make_router()
    )
    dp.errors.register(errors.on_refusal, ExceptionTypeFilter(ServiceError, CommandError))
    dp.errors.register(errors.on_error)
    return dp


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram.api_server))
    return Bot(
        settings.bot_token or PLACEHOLDER_TOKEN,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


async def run_polling(settings: Settings) -> None:
    """Start the bot: refuse an unmigrated database, then poll and send the outbox."""
    biz = build_business(settings)
    try:
        await check_schema(biz.db)
        await sync_outlets(biz)
        bot = build_bot(settings)
        dp = build_dispatcher(biz, build_storage(settings))
        sender = OutboxSender(biz, bot)
        dp["outbox_sender"] = sender
        sender_task = asyncio.create_task(sender.run(), name="outbox-sender")
        scheduler = build_scheduler(biz, DAILY_JOBS)
        scheduler.start()
        try:
            await poll(
                dp,
                bot,
                timeout=settings.telegram.polling_timeout,
                max_concurrent=settings.telegram.max_concurrent_updates,
            )
        finally:
            scheduler.shutdown(wait=False)
            sender_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender_task
            await bot.session.close()
    finally:
        await biz.db.dispose()

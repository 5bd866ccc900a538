"""Wiring: business context, dispatcher with routers and middlewares, bot, polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.utils.deep_linking import create_start_link
from aiohttp import web

from bot.background import BackgroundTasks
from bot.clock import Clock, SystemClock
from bot.config import Settings, salt
from bot.db.engine import Database, create_database
from bot.db.migrate import check_schema
from bot.delivery.sender import OutboxSender
from bot.jobs import DAILY_JOBS
from bot.lease import LockHeld, hold_then_run, lease_for, take_poller_lock
from bot.logs import redact
from bot.override_report import OverrideReporter
from bot.polling import poll
from bot.response_types import PinResponseTypes
from bot.scheduler import build_scheduler
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.members import rekey
from bot.services.people import owners
from bot.services.people.staff import sync_outlets
from bot.texts import Texts
from bot.web import build_web_app, set_menu_button
from handlers import (
    broadcast,
    campaigns,
    common,
    controls,
    conversations,
    errors,
    fallback,
    feedback,
    member,
    menu,
    owner,
    privacy,
    segments,
    signup,
    staff,
    stats,
)
from handlers.command_table import CommandTable
from handlers.commands import CommandError
from handlers.deep_links import OWNER_CODE_PREFIX
from handlers.middlewares import ActorMiddleware, UpdateContextMiddleware

log = logging.getLogger(__name__)

PLACEHOLDER_TOKEN = "123456:OFFLINE-DEMO-TOKEN"


def build_business(
    settings: Settings,
    db: Database | None = None,
    clock: Clock | None = None,
    override_dir: Path | None = None,
) -> Business:
    """``override_dir`` (tests) replaces ``texts.override_dir`` from the settings."""
    reporter = OverrideReporter()
    biz = Business(
        settings=settings,
        db=db
        or create_database(
            settings.database.url, busy_timeout_ms=settings.database.busy_timeout_ms
        ),
        clock=clock or SystemClock(),
        texts=Texts(
            settings.business.currency,
            settings.business.default_language,
            override_dir=override_dir or settings.texts.override_dir,
            timezone=settings.business.timezone,
            on_problem=reporter,
        ),
    )
    reporter.attach(biz)
    return biz


def build_storage(settings: Settings) -> BaseStorage:
    """Memory, or Redis with ``telegram.fsm_redis_url`` (the ``redis`` extra)."""
    if settings.telegram.fsm_redis_url:
        from aiogram.fsm.storage.redis import RedisStorage  # only with the redis extra

        return RedisStorage.from_url(settings.telegram.fsm_redis_url)
    return MemoryStorage()


def build_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One user's updates are handled one at a time whatever the transport: across
    processes with Redis storage (aiogram's Redis event isolation, keyed like the state),
    within the process otherwise (a webhook takes parallel connections; memory storage
    serves one process only)."""
    if type(storage).__name__ == "RedisStorage":  # not imported: redis is an extra
        from aiogram.fsm.storage.redis import RedisEventIsolation

        return RedisEventIsolation(storage.redis, key_builder=storage.key_builder)  # type: ignore[attr-defined]
    return SimpleEventIsolation()


def build_dispatcher(biz: Business, storage: BaseStorage | None = None) -> Dispatcher:
    storage = storage or MemoryStorage()
    dp = Dispatcher(
        storage=storage,
        events_isolation=build_isolation(storage),
        biz=biz,
        background=BackgroundTasks(),
    )
    dp.update.outer_middleware(UpdateContextMiddleware())
    table = CommandTable(menu.STAFF_ONLY_COMMANDS + menu.OWNER_ONLY_COMMANDS)
    actor = ActorMiddleware(table, kept=staff.ACTOR_CHECKED)
    dp.message.outer_middleware(actor)
    dp.callback_query.outer_middleware(actor)
    dp.include_routers(  # sign-up last: its catch-alls answer an open question
        common.make_router(),
        owner.make_router(),
        controls.make_router(),
        stats.make_router(),
        segments.make_router(),
        broadcast.make_router(),
        campaigns.make_router(),
        staff.make_router(),
        member.make_router(),
        feedback.make_router(),
        privacy.make_router(),
        signup.make_router(),
        conversations.make_router(),  # a member's own words, once no question is open
        fallback.make_router(),  # nothing goes unanswered
    )
    dp.startup.register(menu.on_startup)  # the command menus, per role
    dp.errors.register(errors.on_refusal, ExceptionTypeFilter(ServiceError, CommandError))
    dp.errors.register(errors.on_error)
    return dp


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram.api_server))
    session.middleware(PinResponseTypes())
    return Bot(
        settings.bot_token or PLACEHOLDER_TOKEN,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


ROLES = ("all", "web", "worker")


async def webhook_action(settings: Settings, bot: Bot, action: str) -> list[str]:
    """``loyalty-bot webhook set|info|delete``: lines to print."""
    try:
        if action == "set":
            web_settings = settings.web
            if not (web_settings.webhook_url and web_settings.webhook_secret):
                raise ValueError("webhook set needs web.webhook_url and WEBHOOK_SECRET")
            url = web_settings.webhook_url.rstrip("/") + web_settings.webhook_path
            biz = build_business(settings)  # the routers say which update types are used
            try:
                used = build_dispatcher(biz).resolve_used_update_types()
            finally:
                await biz.db.dispose()
            await bot.set_webhook(
                url, secret_token=web_settings.webhook_secret, allowed_updates=used
            )
            return [f"webhook set: {url}"]
        if action == "delete":
            await bot.delete_webhook()
            return ["webhook deleted: the bot can poll again"]
        if action == "info":
            info = await bot.get_webhook_info()
            return [
                f"url: {info.url or '(none: polling)'}",
                f"pending updates: {info.pending_update_count}",
                f"last error: {info.last_error_message or '-'}",
            ]
        raise ValueError("action must be set, info or delete")
    finally:
        await bot.session.close()


def _worker(
    biz: Business, sender: OutboxSender
) -> Callable[[], Awaitable[Callable[[], Awaitable[None]]]]:
    """Start the scheduler and the outbox sender (and, while the bot has no owner, log
    how to become one: only the active worker does, so one code is valid at a time);
    what is returned stops them."""

    async def start() -> Callable[[], Awaitable[None]]:
        await _announce_owner_code(biz, sender.bot)
        biz.texts.check_overrides()  # each problem goes to the owners (OverrideReporter)
        sender_task = asyncio.create_task(sender.run(), name="outbox-sender")
        running: set[asyncio.Task[Any]] = set()  # jobs in progress, cancelled with the role
        scheduler = build_scheduler(biz, DAILY_JOBS, running)
        scheduler.start()

        async def stop() -> None:
            scheduler.shutdown(wait=False)
            tasks = [sender_task, *running]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        return stop

    return start


async def _serve_http(
    stack: contextlib.AsyncExitStack, app: web.Application, host: str, port: int
) -> None:
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as err:  # most often: the port is taken (another bot, another program)
        raise StartupError(
            f"cannot serve HTTP on {host}:{port} ({err.strerror or err}): stop what uses the "
            "port, or set another web.port (0: no HTTP server)"
        ) from None
    log.info("HTTP server on %s:%d", host, port)


class StartupError(Exception):
    """Why the bot cannot start, phrased for the operator: the cause and the fix."""


BOT_API_CHECK_S = 5.0


async def check_bot_api(bot: Bot, settings: Settings) -> None:
    """One getMe before anything else: a wrong token or an unreachable Bot API server is a
    one-line refusal to start, not a process that retries for ever."""
    server = settings.telegram.api_server
    try:
        async with asyncio.timeout(BOT_API_CHECK_S):
            await bot.get_me()
    except TelegramUnauthorizedError:
        raise StartupError(
            "the Bot API refused the bot token (401 Unauthorized): check BOT_TOKEN, "
            "as @BotFather gave it"
        ) from None
    except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
        reason = redact(str(exc) or type(exc).__name__, settings.secrets())
        raise StartupError(
            f"cannot reach the Bot API at {server} ({reason}): check telegram.api_server "
            "and the network"
        ) from None


async def check_salt(biz: Business) -> None:
    """A public salt, in the config or behind the database's keys, is refused until
    ``loyalty-bot rekey`` (``bot.config.salt``)."""
    problem = salt.refusal(biz.settings.privacy.id_hash_salt)
    if problem is None:
        used = await rekey.public_salt_in_use(biz, salt.KNOWN_SALTS)
        problem = salt.database_refusal(used) if used is not None else None
    if problem is not None:
        raise StartupError(problem)


async def run(settings: Settings, *, webhook: bool = False, role: str = "all") -> None:
    """Start a bot process: refuse an unmigrated database, then its role's work.

    ``web`` handles updates (long polling, or the webhook with ``webhook``); ``worker`` runs
    the scheduler and the outbox sender while it holds the worker lease (bot/lease.py);
    ``all`` does both. Health checks and metrics are served when ``web.port`` is set (the
    webhook's server serves them too). SIGTERM and SIGINT stop it gracefully: handlers in
    flight finish first.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if webhook and not (settings.web.webhook_secret and settings.web.port):
        raise ValueError("--webhook needs web.port and a webhook secret (WEBHOOK_SECRET)")
    if settings.web.public_url and not settings.web.port and role != "worker":
        raise ValueError("web.public_url (the Mini App) needs web.port: the server that serves it")
    biz = build_business(settings)
    try:
        await check_schema(biz.db)
        await check_salt(biz)
        await sync_outlets(biz)
        async with contextlib.AsyncExitStack() as stack:
            if role != "worker" and not webhook:
                await _hold_poller_lock(stack, biz)
            bot = build_bot(settings)
            stack.push_async_callback(bot.session.close)
            await check_bot_api(bot, settings)
            sender = OutboxSender(biz, bot)
            dp = build_dispatcher(biz, build_storage(settings)) if role != "worker" else None
            jobs: list[asyncio.Task[None]] = []
            if dp is not None:
                dp["outbox_sender"] = sender
            if webhook or settings.web.port:
                serves_app = bot if role != "worker" else None  # the Mini App: web processes
                app = build_web_app(biz, dp if webhook else None, serves_app, sender.wake)
                await _serve_http(stack, app, settings.web.host, settings.web.port)
            if role != "worker":
                await set_menu_button(bot, biz)
            if role != "web":
                check = settings.worker.lease_check_seconds
                lease = lease_for(biz.db.engine, check)
                jobs.append(asyncio.create_task(hold_then_run(lease, _worker(biz, sender), check)))
            if dp is not None and webhook:
                await dp.emit_startup(dispatcher=dp, bot=bot, **dp.workflow_data)
                stack.push_async_callback(
                    dp.emit_shutdown, dispatcher=dp, bot=bot, **dp.workflow_data
                )
            elif dp is not None:
                timeout = settings.telegram.polling_timeout
                limit = settings.telegram.max_concurrent_updates
                jobs.append(
                    asyncio.create_task(poll(dp, bot, timeout=timeout, max_concurrent=limit))
                )
            await _until_stopped(jobs)
    finally:
        await biz.db.dispose()


async def _hold_poller_lock(stack: contextlib.AsyncExitStack, biz: Business) -> None:
    """One polling process per database: a second one refuses to start, naming the first
    (a second getUpdates caller would end the first with a conflict)."""
    try:
        lock = await take_poller_lock(biz.db.engine, biz.settings.worker.lease_check_seconds)
    except LockHeld as held:
        raise StartupError(
            f"another `loyalty-bot run` is already polling this bot ({held}): stop it first; "
            "to run several processes use --webhook --role web and --role worker"
        ) from None
    stack.push_async_callback(lock.release)


async def _announce_owner_code(biz: Business, bot: Bot) -> None:
    """No owner configured or claimed yet: log how to become one (issue a one-time code)."""
    code = await owners.code_if_ownerless(biz)
    if code is None:
        return
    payload = f"{OWNER_CODE_PREFIX}{code}"
    try:
        link = await create_start_link(bot, payload)
    except Exception:  # the Bot API unreachable at this moment: the command still works
        link = f"/start {payload}"
    log.warning(
        "No owner yet. Open %s (or send /start %s to the bot) to become the owner; "
        "`loyalty-bot owner-code` issues a new code.",
        link,
        payload,
    )


async def _until_stopped(jobs: list[asyncio.Task[None]]) -> None:
    """Run until SIGTERM/SIGINT or until a job fails; then cancel and await every job."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    waiter = asyncio.create_task(stopping.wait())
    try:
        done, _ = await asyncio.wait([waiter, *jobs], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for task in (waiter, *jobs):
            task.cancel()
        await asyncio.gather(waiter, *jobs, return_exceptions=True)

"""Middlewares: who is talking, the update's idempotency key, and the role gate."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from bot.logs import current_update
from bot.metrics import HANDLER_SECONDS, UPDATES
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import callback_key, message_key, update_key
from bot.services.people.audit import AuditOutcome, audit_by
from bot.services.people.roles import Actor, ActorChanged, Role, actor_of, resolve_actor
from handlers.command_table import CommandTable, Route
from handlers.commands import CommandError

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateContextMiddleware(BaseMiddleware):
    """Outer, on updates: tag logs with the update id; count and time every update."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        token = current_update.set(str(event.update_id))
        started, outcome = perf_counter(), "failed"
        try:
            log.debug("update received")
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
            return result
        except (ServiceError, CommandError):
            outcome = "refused"  # a rule said no; handlers.errors answers it
            raise
        finally:
            HANDLER_SECONDS.observe(perf_counter() - started)
            UPDATES.labels(type=event.event_type, outcome=outcome).inc()
            current_update.reset(token)


class ActorMiddleware(BaseMiddleware):
    """Outer, on messages and callbacks: resolve the actor and the exactly-once key.

    A message's key is its update id; a callback's is the callback query id. After the
    handler the outbox sender is woken so queued notifications leave at once.

    A staff or owner command in ``table`` goes straight to its handler (CommandTable).
    For the commands in ``kept`` (their service checks the actor's rows in its own
    transaction: ``roles.still_holds``), a staff member's or owner's actor is kept in this
    process (``ActorCache``) instead of read for every update: when their rows changed
    (here or in another process) the transaction rolls back (``ActorChanged``) and the
    command runs again with the actor read afresh; so does a refusal made with a kept
    actor that turns out to have changed.
    """

    def __init__(self, table: CommandTable | None = None, kept: frozenset[str] = frozenset()):
        self.table = table
        self.kept = kept
        self.actors = ActorCache()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = getattr(event, "from_user", None)
        if user is None or user.is_bot or not _in_private_chat(event):
            return None  # the bot talks in private chats only: nothing leaks into a group
        data["key"] = event_key(event, data.get("event_update"))
        try:
            return await self._dispatch(handler, event, data)
        finally:
            sender = data.get("outbox_sender")
            if sender is not None:
                sender.wake()

    async def _dispatch(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        route = None
        if self.table is not None and isinstance(event, Message):
            route = self.table.route(event, data)
        if route is not None and route.name in self.kept:
            result = await self._kept(route, event, data)  # type: ignore[arg-type]
            if result is not UNHANDLED:
                return result
            route = None  # a command for another bot: the walk, the actor read afresh
        data["actor"] = await self._read(data["biz"], event)
        if route is not None:
            result = await route.run(event, data)  # type: ignore[arg-type]
            if result is not UNHANDLED:
                return result
        return await handler(event, data)

    async def _read(self, biz: Business, event: TelegramObject) -> Actor:
        user = event.from_user  # type: ignore[attr-defined]
        actor = await resolve_actor(biz, user.id, user.language_code)
        self.actors.refresh(actor)
        return actor

    async def _kept(self, route: Route, event: Message, data: dict[str, Any]) -> Any:
        """The route with the kept actor (read and kept if there is none); again with the
        actor read afresh if the transaction found it changed, or if it refused and the
        actor it refused turns out to have changed."""
        biz: Business = data["biz"]
        user = event.from_user
        assert user is not None
        kept = self.actors.get(biz, user.id, user.language_code)
        data["actor"] = actor = kept or await self._read(biz, event)
        try:
            return await route.run(event, data)
        except (ActorChanged, ServiceError, CommandError) as exc:
            changed = isinstance(exc, ActorChanged)
            if kept is None and not changed:
                raise  # read for this update: the refusal stands
            data["actor"] = fresh = await self._read(biz, event)
            if not changed and fresh.seen == actor.seen:
                raise  # still who they were: the refusal stands
        return await route.run(event, data)


class ActorCache:
    """The actors of this process's staff and owners (a few), by Telegram id, as read from
    their rows; kept only for the commands whose transaction checks those rows."""

    MAX = 4096

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Any, ...]] = {}

    def get(self, biz: Business, tg_id: int, language_code: str | None) -> Actor | None:
        row = self._rows.get(tg_id)
        return None if row is None else actor_of(biz, tg_id, language_code, row)

    def refresh(self, actor: Actor) -> None:
        """Keep a staff member's or owner's rows (a reachable customer's, if they are one);
        forget anyone else's."""
        if actor.seen is not None and actor.may(Role.STAFF) and actor.seen[-1] is None:
            if len(self._rows) >= self.MAX and actor.tg_id not in self._rows:
                self._rows.clear()
            self._rows[actor.tg_id] = actor.seen
        else:
            self._rows.pop(actor.tg_id, None)


def event_key(event: TelegramObject, update: Update | None) -> str:
    """The exactly-once key: a callback's query id, else the update id (a message fed
    without an update: the chat's message id)."""
    if isinstance(event, CallbackQuery):
        return callback_key(event.id)
    if update is not None:
        return update_key(update.update_id)
    assert isinstance(event, Message)
    return message_key(event.chat.id, event.message_id)


def _in_private_chat(event: TelegramObject) -> bool:
    message = event.message if isinstance(event, CallbackQuery) else event
    chat = getattr(message, "chat", None)
    return chat is None or chat.type == ChatType.PRIVATE


def action_name(event: TelegramObject) -> str:
    """What the audit log calls an event: the command, or the callback's prefix."""
    if isinstance(event, Message):
        return (event.text or "message").split()[0][:40]
    if isinstance(event, CallbackQuery):
        return f"callback:{(event.data or '').split(':')[0]}"[:40]
    return type(event).__name__


async def audit_denied(
    biz: Business, actor: Actor, event: TelegramObject, key: str | None, **details: Any
) -> None:
    """A refused privileged action: its own audit row (ids only), nothing else written."""
    await audit_by(biz, actor, action_name(event), key, outcome=AuditOutcome.DENIED, **details)


class RequireRole(BaseMiddleware):
    """Inner, on a privileged router: refuse, say "not available", audit, do nothing else."""

    def __init__(self, level: Role) -> None:
        self.level = level

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        actor = data["actor"]
        if actor.may(self.level):
            return await handler(event, data)
        biz: Business = data["biz"]
        await audit_denied(biz, actor, event, data.get("key"))
        log.info("denied %s to %s", action_name(event), actor.role)
        text = biz.texts.render(actor.locale, "errors.not_available")
        if isinstance(event, CallbackQuery):
            await event.answer(text, show_alert=True)
        elif isinstance(event, Message):
            await event.answer(text)
        return None

"""The one place refusals become replies, and the apology that keeps the bot alive.

A service (``ServiceError``) or the chat grammar (``CommandError``) refuses by raising;
the transaction it was in rolls back, so nothing is written. The handler registered here
for both turns the refusal into the localized ``errors.<code>`` text, in a message or in
a callback's alert, adds the buttons some refusals come with (a token that names several
customers: pick one), and audits the refusals ``AUDITED_REFUSALS`` lists (ids and the
code, never personal data). Anything else is logged with the update id and apologised for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    CallbackQuery,
    ErrorEvent,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
    User,
)

from bot.logs import current_update
from bot.services.context import Business
from bot.services.errors import AUDITED_REFUSALS, ServiceError
from bot.services.people.roles import Actor, resolve_actor
from handlers.commands import CommandError
from handlers.keyboards import choose_customer_keyboard, tag_keyboard
from handlers.middlewares import action_name, audit_denied, event_key
from handlers.replies import refusal

log = logging.getLogger(__name__)

Refusal = ServiceError | CommandError

# Refusals that come with buttons, by code.
REFUSAL_KEYBOARDS: dict[str, Callable[[Business, Actor, Refusal], InlineKeyboardMarkup]] = {
    "ambiguous_customer": lambda biz, actor, err: choose_customer_keyboard(
        biz, actor, err.params["choices"]
    ),
    "unknown_purchase_tag": lambda biz, actor, err: tag_keyboard(biz, actor, err.params["tags"]),
}


def _origin(event: ErrorEvent) -> tuple[User | None, Message | CallbackQuery | None]:
    update = event.update
    if update.message is not None:
        return update.message.from_user, update.message
    if update.callback_query is not None:
        return update.callback_query.from_user, update.callback_query
    return None, None


async def on_refusal(event: ErrorEvent, biz: Business) -> bool:
    """A rule said no: tell the user why, in their language; audit what must be audited."""
    current_update.set(str(event.update.update_id))
    err: Any = event.exception
    user, origin = _origin(event)
    if user is None or origin is None:
        return True
    actor = await resolve_actor(biz, user.id, user.language_code)
    log.info("refused %s: %s", action_name(origin), err.code)
    if err.code in AUDITED_REFUSALS:
        await audit_denied(biz, actor, origin, event_key(origin, event.update), code=err.code)
    body = refusal(biz, actor, err)
    keyboard = REFUSAL_KEYBOARDS.get(err.code)
    markup: InlineKeyboardMarkup | ReplyKeyboardRemove | None = (
        keyboard(biz, actor, err) if keyboard else None
    )
    if markup is None and isinstance(origin, Message) and origin.contact is not None:
        markup = ReplyKeyboardRemove()  # a refused contact: the contact button has done its job
    if isinstance(origin, CallbackQuery):
        try:
            await origin.answer(
                biz.texts.plain(actor.locale, f"errors.{err.code}", **err.params), show_alert=True
            )
            return True
        except TelegramBadRequest:  # already answered: say it in the chat instead
            if not isinstance(origin.message, Message):
                return True
            origin = origin.message
    await origin.answer(body, reply_markup=markup)
    return True


async def on_error(event: ErrorEvent, biz: Business) -> bool:
    """Log with the update id and apologise; the bot keeps running."""
    # aiogram calls error handlers after the update middleware has returned: tag it again.
    current_update.set(str(event.update.update_id))
    log.error("handler failed", exc_info=event.exception)
    user, origin = _origin(event)
    message = origin.message if isinstance(origin, CallbackQuery) else origin
    if isinstance(message, Message) and user is not None:
        locale = biz.texts.locale_for(user.language_code)
        try:
            await message.answer(biz.texts.render(locale, "errors.apology"))
        except Exception:
            log.exception("could not send the apology")
    return True

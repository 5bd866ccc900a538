"""Small helpers every router uses to turn results and refusals into template text."""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.people.roles import Actor
from handlers.commands import CommandError


def text(biz: Business, actor: Actor, key: str, **context: Any) -> str:
    return biz.texts.render(actor.locale, key, **context)


def refusal(biz: Business, actor: Actor, err: CommandError | ServiceError) -> str:
    return biz.texts.render(actor.locale, f"errors.{err.code}", **err.params)


def recorded(biz: Business, actor: Actor, key: str, duplicate: bool, **context: Any) -> str:
    """The result, prefixed with "already recorded" when the update was a re-delivery."""
    body = text(biz, actor, key, **context)
    if duplicate:
        return f"{text(biz, actor, 'staff.already_recorded')}\n{body}"
    return body


async def clear_buttons(query: CallbackQuery) -> None:
    """Remove the buttons a callback came from; a message older than 48 hours is
    inaccessible to the bot and is left as it is."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # already without buttons
            await query.message.edit_reply_markup(reply_markup=None)


async def replace_text(query: CallbackQuery, body: str, reply_markup: Any = None) -> None:
    """Edit the callback's message in place, or send the text anew when it cannot be edited."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # "message is not modified"
            await query.message.edit_text(body, reply_markup=reply_markup)
        return
    if query.message is not None:
        await query.message.answer(body, reply_markup=reply_markup)

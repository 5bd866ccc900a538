"""What nobody else answered: nothing the bot gets is met with silence.

Registered after every other router. An unknown command or a typo (``/balanse``) gets a
short answer with the closest command the sender has and a pointer to /help; a command
addressed to another bot (``/cmd@other_bot``) is left alone, as in a group it is not
ours. Free text or a sticker from someone with no open sign-up question gets a hint. A
button press nobody handles (a stale, forged or malformed callback) is answered, so the
user's button stops spinning.
"""

from __future__ import annotations

import difflib

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from bot.services.context import Business
from bot.services.people.roles import Actor, Role
from handlers.menu import COMMANDS_BY_ROLE
from handlers.replies import text

MAX_SHOWN = 40  # of what was typed, in the answer


async def on_unknown_command(message: Message, bot: Bot, biz: Business, actor: Actor) -> None:
    typed = (message.text or "/").split(maxsplit=1)[0]
    name, _, mention = typed[1:].partition("@")
    if mention:
        me = await bot.me()
        if mention.casefold() != (me.username or "").casefold():
            return  # another bot's command
    close = difflib.get_close_matches(name.casefold(), COMMANDS_BY_ROLE[actor.role], n=1)
    await message.answer(
        text(
            biz,
            actor,
            "errors.unknown_command",
            command=typed[:MAX_SHOWN],
            suggestion=close[0] if close else None,
        )
    )


async def on_anything_else(message: Message, biz: Business, actor: Actor) -> None:
    hint = "customer.stranger_hint" if actor.role == Role.STRANGER else "customer.member_hint"
    await message.answer(text(biz, actor, hint))


async def on_stale_button(query: CallbackQuery, biz: Business, actor: Actor) -> None:
    await query.answer(biz.texts.plain(actor.locale, "errors.stale_button"), show_alert=True)


def make_router() -> Router:
    """Last of all routers."""
    router = Router(name="fallback")
    router.message.register(on_unknown_command, F.text.startswith("/"))
    router.message.register(on_anything_else)
    router.callback_query.register(on_stale_button)
    return router

"""Deep links, /help per role, /program (the rules in force, for everyone), /cancel."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot.services.context import Business
from bot.services.members.program import program_page
from bot.services.people import customers, owners, staff
from bot.services.people.roles import Actor, Role
from handlers.deep_links import (
    CARD_LINK_PREFIX,
    INVITE_PREFIX,
    OWNER_CODE_PREFIX,
    REFERRAL_PREFIX,
)
from handlers.menu import publish_chat_menu
from handlers.replies import text
from handlers.signup import start_signup
from handlers.staff import show_card

log = logging.getLogger(__name__)


# Help sections each role sees, most basic first.
HELP_SECTIONS: dict[Role, tuple[str, ...]] = {
    Role.STRANGER: ("customer.help",),
    Role.CUSTOMER: ("customer.help",),
    Role.STAFF: ("customer.help", "staff.help"),
    Role.OWNER: ("customer.help", "staff.help", "owner.help"),
}


async def on_invite_link(
    message: Message, command: CommandObject, bot: Bot, biz: Business, actor: Actor, key: str
) -> None:
    token = (command.args or "")[len(INVITE_PREFIX) :]
    name = message.from_user.full_name if message.from_user else ""
    outcome = await staff.accept_invite(biz, actor.tg_id, name, key, token)
    if outcome.result.role == "owner":  # an owner's co-owner link
        await publish_chat_menu(bot, biz, actor.tg_id, Role.OWNER)
        business = biz.settings.business.name
        await message.answer(
            text(biz, actor, "owner.co_owner_joined", business=business)
            + "\n\n"
            + text(biz, actor, "owner.landing", business=business)
        )
        return
    if actor.role != Role.OWNER:  # an owner keeps the owner's menu
        await publish_chat_menu(bot, biz, actor.tg_id, Role.STAFF)
    await message.answer(text(biz, actor, "staff.staff_joined", name=outcome.result.name))


async def on_owner_code(
    message: Message, command: CommandObject, bot: Bot, biz: Business, actor: Actor, key: str
) -> None:
    """The one-time owner code: its sender becomes an owner, with the owner's menu."""
    await owners.claim(biz, actor.tg_id, key, (command.args or "")[len(OWNER_CODE_PREFIX) :])
    await publish_chat_menu(bot, biz, actor.tg_id, Role.OWNER)
    await message.answer(
        text(biz, actor, "owner.claimed")
        + "\n\n"
        + text(biz, actor, "owner.landing", business=biz.settings.business.name)
    )


async def on_card_link(
    message: Message,
    command: CommandObject,
    biz: Business,
    actor: Actor,
    state: FSMContext,
    key: str,
) -> None:
    """A card QR opens the card for staff; for anyone else it is a plain /start."""
    if not actor.may(Role.STAFF):
        await start_signup(message, biz, actor, state)
        return
    card = await customers.get_by_card_code(biz, (command.args or "")[len(CARD_LINK_PREFIX) :])
    if card is None:
        await message.answer(
            text(biz, actor, "errors.customer_not_found", token=(command.args or "")[:40])
        )
        return
    await show_card(message, biz, actor, card, key)


async def on_referral_link(
    message: Message, command: CommandObject, biz: Business, actor: Actor, state: FSMContext
) -> None:
    """A friend's invitation: the usual /start, remembering who invited (until the contact)."""
    code = (command.args or "")[len(REFERRAL_PREFIX) :][:16]
    await start_signup(message, biz, actor, state, referrer_code=code)


async def on_help(message: Message, biz: Business, actor: Actor) -> None:
    await message.answer("\n\n".join(text(biz, actor, key) for key in HELP_SECTIONS[actor.role]))


async def on_program(message: Message, biz: Business, actor: Actor) -> None:
    page = await program_page(biz, actor.locale)
    await message.answer(text(biz, actor, "customer.program", r=page))


async def on_cancel(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    await state.clear()
    await message.answer(text(biz, actor, "staff.cancelled"), reply_markup=ReplyKeyboardRemove())


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="common")
    router.message.register(
        on_invite_link, CommandStart(deep_link=True, magic=F.args.startswith(INVITE_PREFIX))
    )
    router.message.register(
        on_owner_code, CommandStart(deep_link=True, magic=F.args.startswith(OWNER_CODE_PREFIX))
    )
    router.message.register(
        on_card_link, CommandStart(deep_link=True, magic=F.args.startswith(CARD_LINK_PREFIX))
    )
    router.message.register(
        on_referral_link, CommandStart(deep_link=True, magic=F.args.startswith(REFERRAL_PREFIX))
    )
    router.message.register(on_help, Command("help"))
    router.message.register(on_program, Command("program"))
    router.message.register(on_cancel, Command("cancel"))
    return router

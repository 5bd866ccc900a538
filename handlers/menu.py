"""Which commands each role has: one table for the typo hints (handlers.fallback) and the
Telegram command menus (setMyCommands: the customers' menu for everyone, their own in
each staff member's and owner's chat, updated when staff join or are removed); a test
checks it against the commands the routers really register."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.config import SUPPORTED_LOCALES
from bot.services.context import Business
from bot.services.people import owners, staff
from bot.services.people.roles import Role
from handlers.staff import STAFF_COMMANDS

log = logging.getLogger(__name__)

CUSTOMER_COMMANDS = (
    "start", "card", "balance", "history", "offers", "program", "language", "settings",
    "mydata", "forget", "help", "cancel",
)  # fmt: skip
STAFF_ONLY_COMMANDS = ("find", *STAFF_COMMANDS)
OWNER_ONLY_COMMANDS = (
    "adjust", "client", "rescore", "stats", "kpi", "segments", "broadcast", "campaigns",
    "export", "invite", "staff", "manager", "promo",
)  # fmt: skip

COMMANDS_BY_ROLE: dict[Role, tuple[str, ...]] = {
    Role.STRANGER: CUSTOMER_COMMANDS,
    Role.CUSTOMER: CUSTOMER_COMMANDS,
    Role.STAFF: CUSTOMER_COMMANDS + STAFF_ONLY_COMMANDS,
    Role.OWNER: CUSTOMER_COMMANDS + STAFF_ONLY_COMMANDS + OWNER_ONLY_COMMANDS,
}


def _commands(biz: Business, role: Role, locale: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=biz.texts.plain(locale, f"menu.{name}"))
        for name in COMMANDS_BY_ROLE[role]
    ]


async def publish_chat_menu(bot: Bot, biz: Business, chat_id: int, role: Role) -> None:
    """The menu of one staff member's or owner's chat, in every language."""
    scope = BotCommandScopeChat(chat_id=chat_id)
    for locale in SUPPORTED_LOCALES:
        await bot.set_my_commands(_commands(biz, role, locale), scope=scope, language_code=locale)
    await bot.set_my_commands(_commands(biz, role, biz.texts.default_locale), scope=scope)


async def clear_chat_menu(bot: Bot, chat_id: int) -> None:
    """Someone removed from staff sees the customers' menu again."""
    scope = BotCommandScopeChat(chat_id=chat_id)
    for locale in SUPPORTED_LOCALES:
        await bot.delete_my_commands(scope=scope, language_code=locale)
    await bot.delete_my_commands(scope=scope)


async def publish_menus(bot: Bot, biz: Business) -> None:
    """At start-up: the customers' menu for everyone, and each owner's and active staff
    member's own (Telegram shows the most specific scope)."""
    for locale in SUPPORTED_LOCALES:
        await bot.set_my_commands(
            _commands(biz, Role.CUSTOMER, locale), scope=BotCommandScopeDefault(),
            language_code=locale,
        )  # fmt: skip
    await bot.set_my_commands(_commands(biz, Role.CUSTOMER, biz.texts.default_locale))
    owner_ids = await owners.owner_ids(biz)
    for owner_id in owner_ids:
        await publish_chat_menu(bot, biz, owner_id, Role.OWNER)
    for member in await staff.list_staff(biz):
        if member.telegram_id not in owner_ids:
            await publish_chat_menu(bot, biz, member.telegram_id, Role.STAFF)


async def on_startup(bot: Bot, biz: Business) -> None:
    try:
        await publish_menus(bot, biz)
    except TelegramAPIError:  # a menu is a convenience: never a reason not to start
        log.warning("could not publish the command menus", exc_info=True)

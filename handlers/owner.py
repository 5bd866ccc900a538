"""Owner side: balance adjustments, staff management (invites, list, removal), customer
cards, scoring, KPIs and the export (handlers.export)."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link

from bot.background import BackgroundTasks
from bot.services.context import Business
from bot.services.counter import adjustments
from bot.services.members.client_card import client_card
from bot.services.people import customers, owners, staff
from bot.services.people.audit import audit_view
from bot.services.people.roles import Actor, Role
from handlers import commands
from handlers.bonds import on_manager
from handlers.commands import MAX_FIND_QUERY
from handlers.deep_links import INVITE_PREFIX
from handlers.export import on_export
from handlers.keyboards import StaffRemove, offers_keyboard, staff_keyboard
from handlers.menu import clear_chat_menu
from handlers.middlewares import RequireRole
from handlers.promo import register as register_promo
from handlers.replies import text
from handlers.staff import CommandSpec, command_handler

log = logging.getLogger(__name__)

ADJUST = CommandSpec(
    commands.parse_adjust, adjustments.adjust, "owner.adjusted", held="controls.held_adjust"
)


INVITE_KINDS = {"": "staff", "staff": "staff", "owner": "owner"}


async def on_invite(
    message: Message, command: CommandObject, bot: Bot, biz: Business, actor: Actor, key: str
) -> None:
    """``/invite``: a cashier's one-time link; ``/invite owner``: a co-owner's."""
    role = INVITE_KINDS.get((command.args or "").strip().lower())
    if role is None:
        await message.answer(text(biz, actor, "errors.usage_invite"))
        return
    outcome = await staff.create_invite(biz, actor, key, role=role)
    link = await create_start_link(bot, f"{INVITE_PREFIX}{outcome.result.token}")
    reply = "owner.invite_owner_created" if role == "owner" else "owner.invite_created"
    await message.answer(text(biz, actor, reply, link=link, expires=outcome.result.expires_at))


async def on_staff(message: Message, biz: Business, actor: Actor, key: str) -> None:
    members = await staff.list_staff(biz)
    await audit_view(biz, actor, "staff_list", key)
    await message.answer(
        text(biz, actor, "owner.staff_list", staff=members),
        reply_markup=staff_keyboard(biz, actor, [(m.staff_id, m.name) for m in members])
        if members
        else None,
    )


async def on_staff_remove(
    query: CallbackQuery,
    callback_data: StaffRemove,
    bot: Bot,
    biz: Business,
    actor: Actor,
    key: str,
) -> None:
    outcome = await staff.remove_staff(biz, actor, key, callback_data.staff_id)
    await query.answer()
    removed = outcome.result.telegram_id
    if removed is not None and removed not in await owners.owner_ids(biz):
        await clear_chat_menu(bot, removed)
    if query.message is not None:
        await query.message.answer(
            text(
                biz,
                actor,
                "owner.staff_removed",  # type: ignore[union-attr]
                name=outcome.result.name,
            )
        )


async def on_client(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    """Whatever /find takes (card code, phone as typed, Telegram id, a name): one match
    shows the profile card, several are listed with their card codes."""
    query = (command.args or "").strip()
    if not query or len(query) > MAX_FIND_QUERY:
        await message.answer(text(biz, actor, "errors.usage_client"))
        return
    found = await customers.search(biz, query)
    if len(found) != 1:
        await audit_view(biz, actor, "client_search", key, found=len(found))
        reply = "staff.find_results" if found else "staff.find_none"
        await message.answer(text(biz, actor, reply, found=found, query=query))
        return
    card = await client_card(biz, found[0].card_code, actor.locale)
    await audit_view(biz, actor, "client", key, customer_id=card.customer.customer_id)
    await message.answer(
        text(biz, actor, "owner.client_card", c=card),
        reply_markup=offers_keyboard(biz, actor, card.customer.customer_id, card.offers),
    )


async def on_rescore(
    message: Message, biz: Business, actor: Actor, key: str, background: BackgroundTasks
) -> None:
    """Start the reclassification; a progress message is edited as it goes. The scoring job's
    module (numpy and the models) loads here, on first use, not with the bot."""
    from bot.services.insight.scoring_job import ScoringBusyError, reclassify

    await audit_view(biz, actor, "rescore", key)
    status = await message.answer(text(biz, actor, "owner.rescore_started"))

    async def report(done: int, total: int) -> None:
        with contextlib.suppress(TelegramBadRequest):  # "message is not modified"
            await status.edit_text(
                text(biz, actor, "owner.rescore_progress", done=done, total=total)
            )

    async def work() -> None:
        try:
            summary = await reclassify(biz, report)
        except ScoringBusyError:
            await status.edit_text(text(biz, actor, "owner.rescore_busy"))
            return
        except Exception:
            log.exception("rescore failed")
            await message.answer(text(biz, actor, "owner.rescore_failed"))
            return
        await message.answer(text(biz, actor, "owner.rescore_done", s=summary))

    background.start(work(), name=f"rescore-{actor.tg_id}")


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="owner")
    router.message.middleware(RequireRole(Role.OWNER))
    router.callback_query.middleware(RequireRole(Role.OWNER))
    router.message.register(command_handler(ADJUST), Command("adjust"))
    router.message.register(on_client, Command("client"))
    router.message.register(on_rescore, Command("rescore"))
    router.message.register(on_export, Command("export"))
    router.message.register(on_invite, Command("invite"))
    router.message.register(on_staff, Command("staff"))
    router.message.register(on_manager, Command("manager"))
    router.callback_query.register(on_staff_remove, StaffRemove.filter())
    register_promo(router)
    return router

"""Staff side: find a customer, log purchases and visits, redemptions, refunds, notes.

Each command parses its arguments (bot.commands), calls one service and renders one
template. The role gate (RequireRole) sits on this router, so every handler here is
refused to customers, removed staff and strangers before it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from pydantic import BaseModel

from bot import commands
from bot.commands import CommandError
from bot.services import customers, purchases, redemptions
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome
from bot.services.roles import Actor, Role
from handlers.keyboards import CardAction, card_keyboard
from handlers.middlewares import RequireRole
from handlers.replies import recorded, refusal, text


class CardInput(StatesGroup):
    waiting = State()


Service = Callable[[Business, Actor, str, Any], Awaitable[Outcome[BaseModel]]]


async def run_command(
    message: Message,
    biz: Business,
    actor: Actor,
    key: str,
    parse: Callable[[], object],
    service: Service,
    template: str,
) -> bool:
    """Parse, call one service, answer with its template; refusals answer and write nothing."""
    try:
        outcome = await service(biz, actor, key, parse())
    except (CommandError, ServiceError) as err:
        await message.answer(refusal(biz, actor, err))
        return False
    await message.answer(recorded(biz, actor, template, outcome.duplicate, r=outcome.result))
    return True


async def on_purchase(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    await run_command(
        message,
        biz,
        actor,
        key,
        lambda: commands.parse_purchase(command.args, biz.settings),
        purchases.record_purchase,
        "staff.purchase_recorded",
    )


async def on_visit(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    await run_command(
        message,
        biz,
        actor,
        key,
        lambda: commands.parse_visit(command.args, biz.settings),
        purchases.record_visit,
        "staff.visit_recorded",
    )


async def on_redeem(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    await run_command(
        message,
        biz,
        actor,
        key,
        lambda: commands.parse_redeem(command.args, biz.settings),
        redemptions.request_redemption,
        "staff.redeem_sent",
    )


async def on_refund(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    await run_command(
        message,
        biz,
        actor,
        key,
        lambda: commands.parse_refund(command.args, biz.settings),
        purchases.refund,
        "staff.refund_done",
    )


async def on_note(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    await run_command(
        message,
        biz,
        actor,
        key,
        lambda: commands.parse_note(command.args),
        purchases.add_note,
        "staff.note_added",
    )


async def on_find(message: Message, command: CommandObject, biz: Business, actor: Actor) -> None:
    query = (command.args or "").strip()
    if not query or len(query) > commands.MAX_TOKEN_LENGTH * 2:
        await message.answer(text(biz, actor, "errors.usage_find"))
        return
    found = await customers.search(biz, query)
    if not found:
        await message.answer(text(biz, actor, "staff.find_none", query=query))
    elif len(found) == 1:
        await show_card(message, biz, actor, found[0])
    else:
        await message.answer(text(biz, actor, "staff.find_results", found=found))


async def show_card(
    message: Message, biz: Business, actor: Actor, card: customers.CustomerView
) -> None:
    await message.answer(
        text(biz, actor, "staff.card", c=card),
        reply_markup=card_keyboard(biz, actor, card.customer_id),
    )


async def on_card_action(
    query: CallbackQuery, callback_data: CardAction, biz: Business, actor: Actor, state: FSMContext
) -> None:
    card = await customers.get_by_id(biz, callback_data.customer_id)
    await query.answer()
    if card is None or query.message is None:
        return
    await state.set_state(CardInput.waiting)
    await state.update_data(action=callback_data.action, card_code=card.card_code)
    await query.message.answer(
        text(
            biz,
            actor,
            f"staff.ask_{callback_data.action}",  # type: ignore[union-attr]
            card_code=card.card_code,
        )
    )


# What a staff member types after pressing a card button, as the matching command's args.
CARD_INPUT: dict[str, tuple[Callable[[str, str, Business], object], Service, str]] = {
    "purchase": (
        lambda code, args, biz: commands.parse_purchase(f"{code} {args}", biz.settings),
        purchases.record_purchase,
        "staff.purchase_recorded",
    ),
    "visit": (
        lambda code, args, biz: commands.parse_visit(
            code if args.strip() == "-" else f"{code} {args}", biz.settings
        ),
        purchases.record_visit,
        "staff.visit_recorded",
    ),
    "redeem": (
        lambda code, args, biz: commands.parse_redeem(f"{code} {args}", biz.settings),
        redemptions.request_redemption,
        "staff.redeem_sent",
    ),
    "note": (
        lambda code, args, biz: commands.parse_note(f"{code} {args}"),
        purchases.add_note,
        "staff.note_added",
    ),
}


async def on_card_input(
    message: Message, biz: Business, actor: Actor, key: str, state: FSMContext
) -> None:
    data = await state.get_data()
    parse, service, template = CARD_INPUT[data["action"]]
    done = await run_command(
        message,
        biz,
        actor,
        key,
        lambda: parse(data["card_code"], message.text or "", biz),
        service,
        template,
    )
    if done:
        await state.clear()


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="staff")
    router.message.middleware(RequireRole(Role.STAFF))
    router.callback_query.middleware(RequireRole(Role.STAFF))
    router.message.register(on_purchase, Command("purchase"))
    router.message.register(on_visit, Command("visit"))
    router.message.register(on_redeem, Command("redeem"))
    router.message.register(on_refund, Command("refund"))
    router.message.register(on_note, Command("note"))
    router.message.register(on_find, Command("find"))
    router.callback_query.register(on_card_action, CardAction.filter())
    router.message.register(
        on_card_input, StateFilter(CardInput.waiting), F.text, ~F.text.startswith("/")
    )
    return router

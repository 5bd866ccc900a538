"""Staff side: find a customer, log purchases and visits, redemptions, refunds, notes.

Each command parses its arguments (bot.commands), calls one service and renders one
template; the table `STAFF_COMMANDS` says which. The role gate (RequireRole) sits on this
router, so every handler here is refused to customers, removed staff and strangers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from pydantic import BaseModel

from bot.config import Settings
from bot.services.context import Business
from bot.services.counter import offers_at_counter as counter_offers
from bot.services.counter import purchases, redemptions
from bot.services.idempotency import Outcome
from bot.services.money.offers import OFFER_TOKEN_PREFIX
from bot.services.people import customers
from bot.services.people.audit import audit_view
from bot.services.people.roles import Actor, Role
from handlers import commands
from handlers.keyboards import (
    CardAction,
    CardOpen,
    OfferPick,
    RefundPick,
    TagPick,
    card_keyboard,
    refund_keyboard,
)
from handlers.middlewares import RequireRole
from handlers.replies import clear_buttons, recorded, text

NO_SERVICE = "-"


class CardInput(StatesGroup):
    waiting = State()


@dataclass(frozen=True)
class CommandSpec:
    """One writing command: how to parse its arguments, which service, which reply."""

    parse: Callable[[str | None, Settings], object]
    service: Callable[[Business, Actor, str, Any], Awaitable[Outcome[BaseModel]]]
    template: str
    held: str | None = None  # the reply when the result waits for an owner (approval_id)


STAFF_COMMANDS: dict[str, CommandSpec] = {
    "purchase": CommandSpec(
        commands.parse_purchase, purchases.record_purchase, "staff.purchase_recorded",
        held="controls.held_purchase",
    ),
    "visit": CommandSpec(commands.parse_visit, purchases.record_visit, "staff.visit_recorded"),
    "redeem": CommandSpec(
        commands.parse_redeem, redemptions.request_redemption, "staff.redeem_sent"
    ),
    "reward": CommandSpec(
        commands.parse_reward, redemptions.request_redemption, "staff.redeem_sent"
    ),
    "refund": CommandSpec(commands.parse_refund, purchases.refund, "staff.refund_done"),
    "note": CommandSpec(commands.parse_note, purchases.add_note, "staff.note_added"),
    "addcustomer": CommandSpec(
        commands.parse_add_customer, customers.add_at_counter, "staff.customer_added"
    ),
}

# Commands whose service checks the actor's rows in its own transaction
# (roles.still_holds), so the actor may be kept between updates (ActorMiddleware).
ACTOR_CHECKED = frozenset({"purchase"})


async def run_command(
    message: Message,
    biz: Business,
    actor: Actor,
    key: str,
    spec: CommandSpec,
    args: str | None,
    state: FSMContext | None = None,
) -> None:
    """Parse, call one service, answer with its template. A refusal raises: the error
    handler (handlers.errors) answers it, and nothing was written. A purchase naming a
    word that is not a service tag keeps the rest of the command waiting for a tag."""
    try:
        request = spec.parse(args, biz.settings)
    except commands.UnknownServiceTag as err:
        if state is not None:
            await state.set_state(CardInput.waiting)
            await state.update_data(action="purchase", first=err.head, last=err.tail)
        raise
    outcome = await spec.service(biz, actor, key, request)
    held = spec.held is not None and getattr(outcome.result, "approval_id", None) is not None
    template = spec.held if spec.held is not None and held else spec.template
    await message.answer(recorded(biz, actor, template, outcome.duplicate, r=outcome.result))


def command_handler(spec: CommandSpec) -> Callable[..., Awaitable[None]]:
    async def handle(
        message: Message,
        command: CommandObject,
        biz: Business,
        actor: Actor,
        key: str,
        state: FSMContext,
    ) -> None:
        await run_command(message, biz, actor, key, spec, command.args, state)

    return handle


async def on_find(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    query = (command.args or "").strip()
    if not query or len(query) > commands.MAX_FIND_QUERY:
        await message.answer(text(biz, actor, "errors.usage_find"))
        return
    found = await customers.search(biz, query)
    await audit_view(biz, actor, "find", key, found=len(found))
    if not found:
        await message.answer(text(biz, actor, "staff.find_none", query=query))
    elif len(found) == 1:
        await show_card(message, biz, actor, found[0], key)
    else:
        await message.answer(text(biz, actor, "staff.find_results", found=found))


async def show_card(
    message: Message, biz: Business, actor: Actor, card: customers.CustomerView, key: str
) -> None:
    await audit_view(biz, actor, "card", key, customer_id=card.customer_id)
    offers = await counter_offers.live_for(biz, card.customer_id)
    await message.answer(
        text(biz, actor, "staff.card", c=card, offers=offers),
        reply_markup=card_keyboard(biz, actor, card.customer_id, offers),
    )


async def on_card_action(
    query: CallbackQuery, callback_data: CardAction, biz: Business, actor: Actor, state: FSMContext
) -> None:
    """A button on a customer's card: ask for the rest of the command's arguments."""
    card = await customers.get_by_id(biz, callback_data.customer_id)
    await query.answer()
    if card is None or query.message is None or callback_data.action not in STAFF_COMMANDS:
        return
    if callback_data.action == "refund":  # which purchase first: a button each
        await state.clear()  # an earlier button's step no longer waits for input
        offered = await purchases.refundable(biz, card.customer_id)
        await query.message.answer(  # type: ignore[union-attr]
            text(biz, actor, "staff.ask_refund_pick", card_code=card.card_code, found=offered),
            reply_markup=refund_keyboard(biz, actor, offered) if offered else None,
        )
        return
    await _ask(query, biz, actor, state, callback_data.action, card.card_code)


async def on_refund_pick(
    query: CallbackQuery, callback_data: RefundPick, biz: Business, actor: Actor, state: FSMContext
) -> None:
    """A purchase picked for a refund: ask how much (or ``-`` for all of it)."""
    await query.answer()
    await clear_buttons(query)
    await _ask(query, biz, actor, state, "refund", str(callback_data.purchase_id))


async def on_offer_pick(
    query: CallbackQuery, callback_data: OfferPick, biz: Business, actor: Actor, state: FSMContext
) -> None:
    """An offer on a customer's card: ask for the amount; the purchase names the offer.
    Whether the offer may be used is decided when the purchase is booked."""
    card = await customers.get_by_id(biz, callback_data.customer_id)
    await query.answer()
    if card is None:
        return
    offer = callback_data.code.upper()
    await _ask(
        query, biz, actor, state, "purchase", card.card_code,
        last=f"{OFFER_TOKEN_PREFIX}{offer}", prompt="staff.ask_purchase_offer", offer=offer,
    )  # fmt: skip


async def _ask(
    query: CallbackQuery,
    biz: Business,
    actor: Actor,
    state: FSMContext,
    action: str,
    first: str,
    *,
    last: str = "",
    prompt: str | None = None,
    **context: str,
) -> None:
    """Wait for the rest of ``action``'s arguments; ``first`` goes before what is typed,
    ``last`` after it."""
    await state.set_state(CardInput.waiting)
    await state.update_data(action=action, first=first, last=last)
    if query.message is not None:
        await query.message.answer(  # type: ignore[union-attr]
            text(
                biz,
                actor,
                prompt or f"staff.ask_{action}",
                card_code=first,
                purchase_id=first,
                tags=biz.settings.loyalty.service_tags,
                **context,
            )
        )


async def on_card_input(
    message: Message, biz: Business, actor: Actor, key: str, state: FSMContext
) -> None:
    """What staff type after a card button: the same command, the card code (or the
    purchase picked for a refund) first."""
    data = await state.get_data()
    typed = (message.text or "").strip()
    first = data.get("first", data.get("card_code"))  # card_code: steps stored before
    args = first if typed == NO_SERVICE else f"{first} {typed}"
    if data.get("last"):
        args = f"{args} {data['last']}"
    await run_command(message, biz, actor, key, STAFF_COMMANDS[data["action"]], args, state)
    await state.clear()  # not reached on a refusal: the staff member can type again


async def on_tag_pick(
    query: CallbackQuery, callback_data: TagPick, biz: Business, actor: Actor, key: str,
    state: FSMContext,
) -> None:  # fmt: skip
    """A service tag picked from the buttons of a refused purchase: the same purchase."""
    data = await state.get_data()
    tags = biz.settings.loyalty.service_tags
    if data.get("action") != "purchase" or callback_data.index >= len(tags):
        await query.answer(biz.texts.plain(actor.locale, "errors.stale_button"), show_alert=True)
        return
    await query.answer()
    await clear_buttons(query)
    if not isinstance(query.message, Message):
        return
    tag = tags[callback_data.index] if callback_data.index >= 0 else ""
    args = " ".join(part for part in (data["first"], tag, data.get("last", "")) if part)
    await run_command(query.message, biz, actor, key, STAFF_COMMANDS["purchase"], args, state)
    await state.clear()


async def on_card_open(
    query: CallbackQuery, callback_data: CardOpen, biz: Business, actor: Actor, key: str
) -> None:
    """A customer chosen from the buttons of an ambiguous token: show their card."""
    card = await customers.get_by_id(biz, callback_data.customer_id)
    await query.answer()
    if card is not None and isinstance(query.message, Message):
        await show_card(query.message, biz, actor, card, key)


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="staff")
    router.message.middleware(RequireRole(Role.STAFF))
    router.callback_query.middleware(RequireRole(Role.STAFF))
    for name, spec in STAFF_COMMANDS.items():
        router.message.register(command_handler(spec), Command(name))
    router.message.register(on_find, Command("find"))
    router.callback_query.register(on_card_action, CardAction.filter())
    router.callback_query.register(on_card_open, CardOpen.filter())
    router.callback_query.register(on_refund_pick, RefundPick.filter())
    router.callback_query.register(on_offer_pick, OfferPick.filter())
    router.callback_query.register(on_tag_pick, TagPick.filter())
    not_command = ~F.text.startswith("/")
    router.message.register(on_card_input, StateFilter(CardInput.waiting), F.text, not_command)
    return router

"""Retention bonds: the owner's ``/manager <customer> <staff>`` (a personal manager for a
top-category customer), what /card adds below the QR code (the manager's name, the car's
service history and next service), and the "thinking about a new car?" button."""

from __future__ import annotations

from aiogram.filters import CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.services.context import Business
from bot.services.jobs import car
from bot.services.jobs.car_interest import NEW_CAR_PREFIX, interest_keyboard
from bot.services.members.bonds import card_bonds
from bot.services.people import managers
from bot.services.people.roles import Actor
from handlers.commands import MAX_TOKEN_LENGTH
from handlers.replies import clear_buttons, text


class NewCarButton(CallbackData, prefix=NEW_CAR_PREFIX):
    """The button ``car_interest.interest_keyboard`` sends: ``nc:card`` / ``nc:reminder``."""

    source: str


async def on_manager(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    """``/manager <customer> <staff no. or Telegram id>``; ``/manager <customer> -`` stops."""
    tokens = (command.args or "").split()
    if len(tokens) != 2 or any(len(t) > MAX_TOKEN_LENGTH for t in tokens):
        await message.answer(text(biz, actor, "errors.usage_manager"))
        return
    outcome = await managers.assign(biz, actor, key, tokens[0], tokens[1])
    await message.answer(text(biz, actor, "owner.manager_set", m=outcome.result))


async def send_card_bonds(message: Message, biz: Business, actor: Actor) -> None:
    """Below the card: the manager, the car's services, the new-car button (when any)."""
    bonds = await card_bonds(biz, actor.tg_id)
    if bonds.empty:
        return
    markup = (
        InlineKeyboardMarkup.model_validate(interest_keyboard(biz, actor.locale, "card"))
        if bonds.new_car_button
        else None
    )
    await message.answer(text(biz, actor, "customer.card_bonds", b=bonds), reply_markup=markup)


async def on_new_car(
    query: CallbackQuery, callback_data: NewCarButton, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await car.new_car_interest(biz, key, actor.tg_id, callback_data.source)
    await query.answer()
    await clear_buttons(query)
    if query.message is not None and not outcome.duplicate:
        await query.message.answer(  # type: ignore[union-attr]
            text(biz, actor, "customer.new_car_noted", manager=outcome.result.manager)
        )

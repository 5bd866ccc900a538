"""Keyboards and typed callback data."""

from __future__ import annotations

from typing import Annotated, Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from pydantic import Field

from bot.numbers import MAX_DB_ID
from bot.services.context import Business
from bot.services.redemptions import CONFIRM_PREFIX
from bot.services.roles import Actor

# Ids in callback data are checked like any input: a forged 20-digit id is no match,
# instead of an overflow in the database driver.
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]


class ConsentAnswer(CallbackData, prefix="consent"):
    agree: bool


class RedeemAnswer(CallbackData, prefix=CONFIRM_PREFIX):
    """The buttons redemptions.confirm_keyboard queues: ``rd:y:<id>`` / ``rd:n:<id>``."""

    answer: str
    redemption_id: DbId


class CardAction(CallbackData, prefix="ca"):
    action: str
    customer_id: DbId


class CardOpen(CallbackData, prefix="co"):
    """Open a customer's card (the choice when a typed token named several customers)."""

    customer_id: DbId


class StaffRemove(CallbackData, prefix="srm"):
    staff_id: DbId


CARD_ACTIONS = ("purchase", "visit", "redeem", "refund", "note")


class RefundPick(CallbackData, prefix="rf"):
    """A purchase chosen on the customer's card for a refund."""

    purchase_id: DbId


def inline_button(label: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=data.pack())


def inline_markup(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """Rows of buttons; empty rows are left out."""
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def consent_keyboard(biz: Business, actor: Actor) -> InlineKeyboardMarkup:
    render = biz.texts.render
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=render(actor.locale, "customer.button_agree"),
                    callback_data=ConsentAnswer(agree=True).pack(),
                ),
                InlineKeyboardButton(
                    text=render(actor.locale, "customer.button_disagree"),
                    callback_data=ConsentAnswer(agree=False).pack(),
                ),
            ]
        ]
    )


def contact_keyboard(biz: Business, actor: Actor) -> ReplyKeyboardMarkup:
    button = KeyboardButton(
        text=biz.texts.render(actor.locale, "customer.button_share_contact"), request_contact=True
    )
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def card_keyboard(biz: Business, actor: Actor, customer_id: int) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=biz.texts.render(actor.locale, f"staff.button_{action}"),
            callback_data=CardAction(action=action, customer_id=customer_id).pack(),
        )
        for action in CARD_ACTIONS
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[:2], buttons[2:4], buttons[4:]])


def refund_keyboard(biz: Business, actor: Actor, purchases: list[Any]) -> InlineKeyboardMarkup:
    """One button per refundable purchase (services.purchases.refundable)."""
    return inline_markup(
        *[
            [inline_button(biz.texts.plain(actor.locale, "staff.button_refund_pick", p=p),
                           RefundPick(purchase_id=p.purchase_id))]
            for p in purchases
        ]
    )  # fmt: skip


def choose_customer_keyboard(
    biz: Business, actor: Actor, choices: list[dict[str, object]]
) -> InlineKeyboardMarkup:
    """One button per customer a token matched: card code and name; a tap opens the card."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=biz.texts.plain(actor.locale, "staff.button_choose", c=choice),
                    callback_data=CardOpen(customer_id=int(str(choice["customer_id"]))).pack(),
                )
            ]
            for choice in choices
        ]
    )


def staff_keyboard(
    biz: Business, actor: Actor, staff: list[tuple[int, str]]
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=biz.texts.plain(actor.locale, "owner.button_remove", name=name),
                    callback_data=StaffRemove(staff_id=staff_id).pack(),
                )
            ]
            for staff_id, name in staff
        ]
    )

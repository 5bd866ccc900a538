"""Keyboards and typed callback data."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.services.context import Business
from bot.services.roles import Actor


class ConsentAnswer(CallbackData, prefix="consent"):
    agree: bool


class RedeemAnswer(CallbackData, prefix="rd"):
    """Matches bot.services.redemptions.confirm_keyboard: ``rd:y:<id>`` / ``rd:n:<id>``."""

    answer: str
    redemption_id: int


class CardAction(CallbackData, prefix="ca"):
    action: str
    customer_id: int


class StaffRemove(CallbackData, prefix="srm"):
    staff_id: int


CARD_ACTIONS = ("purchase", "visit", "redeem", "note")


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
    return InlineKeyboardMarkup(inline_keyboard=[buttons[:2], buttons[2:]])


def staff_keyboard(
    biz: Business, actor: Actor, staff: list[tuple[int, str]]
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=biz.texts.render(actor.locale, "owner.button_remove", name=name),
                    callback_data=StaffRemove(staff_id=staff_id).pack(),
                )
            ]
            for staff_id, name in staff
        ]
    )

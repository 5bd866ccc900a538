"""Keyboards and typed callback data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from pydantic import AfterValidator, Field

from bot.numbers import MAX_DB_ID
from bot.services.context import Business
from bot.services.counter.redemptions import CONFIRM_PREFIX
from bot.services.money.offers import looks_like_offer_code
from bot.services.people.roles import Actor

# Ids in callback data are checked like any input: a forged 20-digit id is no match,
# instead of an overflow in the database driver.
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
T = TypeVar("T")


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


class BroadcastStep(CallbackData, prefix="bw"):
    """A button of the /broadcast wizard: an action and a small index into what the
    wizard offered (kept in the FSM), never a value typed by anyone."""

    action: str
    arg: Annotated[int, Field(ge=0, le=9999)] = 0


class BroadcastStop(CallbackData, prefix="bws"):
    """Stop a broadcast's delivery: what is not sent yet is cancelled."""

    campaign_id: DbId


CARD_ACTIONS = ("purchase", "visit", "redeem", "refund", "note")


def _offer_code(value: str) -> str:
    """A button's offer code, by the one rule of what an offer code is."""
    if not looks_like_offer_code(value):
        raise ValueError("not an offer code")
    return value.upper()


class OfferPick(CallbackData, prefix="op"):
    """A live offer chosen on a customer's card: log a purchase with it."""

    customer_id: DbId
    code: Annotated[str, AfterValidator(_offer_code)]


class RefundPick(CallbackData, prefix="rf"):
    """A purchase chosen on the customer's card for a refund."""

    purchase_id: DbId


class TagPick(CallbackData, prefix="tg"):
    """A service tag picked after /purchase named a word that is not one (an index into
    loyalty.service_tags; -1: no service); the rest of the command waits in the FSM."""

    index: Annotated[int, Field(ge=-1, le=99)]


def inline_button(label: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=data.pack())


def inline_markup(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """Rows of buttons; empty rows are left out."""
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def one_per_row(buttons: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """A list to choose from: one button a row."""
    return inline_markup(*([button] for button in buttons))


def consent_keyboard(biz: Business, actor: Actor) -> InlineKeyboardMarkup:
    label = biz.texts.plain
    return inline_markup(
        [
            inline_button(label(actor.locale, "customer.button_agree"), ConsentAnswer(agree=True)),
            inline_button(
                label(actor.locale, "customer.button_disagree"), ConsentAnswer(agree=False)
            ),
        ]
    )


def contact_keyboard(biz: Business, actor: Actor) -> ReplyKeyboardMarkup:
    button = KeyboardButton(
        text=biz.texts.render(actor.locale, "customer.button_share_contact"), request_contact=True
    )
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def card_keyboard(
    biz: Business, actor: Actor, customer_id: int, offers: Sequence[Any] = ()
) -> InlineKeyboardMarkup:
    """The card's actions, then one button per live offer (counter_offers.OfferView)."""
    buttons = [
        inline_button(
            biz.texts.plain(actor.locale, f"staff.button_{action}"),
            CardAction(action=action, customer_id=customer_id),
        )
        for action in CARD_ACTIONS
    ]
    return inline_markup(
        buttons[:2], buttons[2:4], buttons[4:], *_offer_rows(biz, actor, customer_id, offers)
    )


def _offer_rows(
    biz: Business, actor: Actor, customer_id: int, offers: Sequence[Any]
) -> list[list[InlineKeyboardButton]]:
    return [
        [
            inline_button(
                biz.texts.plain(actor.locale, "staff.button_offer", o=offer),
                OfferPick(customer_id=customer_id, code=offer.code),
            )
        ]
        for offer in offers
    ]


def offers_keyboard(
    biz: Business, actor: Actor, customer_id: int, offers: Sequence[Any]
) -> InlineKeyboardMarkup | None:
    """One button per live offer (the owner's /client card); None without offers."""
    rows = _offer_rows(biz, actor, customer_id, offers)
    return inline_markup(*rows) if rows else None


def _button_per_row(
    biz: Business,
    actor: Actor,
    label: str,
    items: Iterable[T],
    context: Callable[[T], dict[str, Any]],
    data: Callable[[T], CallbackData],
) -> InlineKeyboardMarkup:
    """One button per item, a row each: the ``label`` template with the item's
    ``context``, in the actor's language; pressing it sends the item's ``data``."""
    return one_per_row(
        [inline_button(biz.texts.plain(actor.locale, label, **context(i)), data(i)) for i in items]
    )


def refund_keyboard(biz: Business, actor: Actor, purchases: list[Any]) -> InlineKeyboardMarkup:
    """One button per refundable purchase (services.purchases.refundable)."""
    return _button_per_row(
        biz, actor, "staff.button_refund_pick", purchases,
        lambda p: {"p": p}, lambda p: RefundPick(purchase_id=p.purchase_id),
    )  # fmt: skip


def choose_customer_keyboard(
    biz: Business, actor: Actor, choices: list[dict[str, object]]
) -> InlineKeyboardMarkup:
    """One button per customer a token matched: card code and name; a tap opens the card."""
    return _button_per_row(
        biz, actor, "staff.button_choose", choices,
        lambda c: {"c": c}, lambda c: CardOpen(customer_id=int(str(c["customer_id"]))),
    )  # fmt: skip


def staff_keyboard(
    biz: Business, actor: Actor, staff: list[tuple[int, str]]
) -> InlineKeyboardMarkup:
    return _button_per_row(
        biz, actor, "owner.button_remove", staff,
        lambda s: {"name": s[1]}, lambda s: StaffRemove(staff_id=s[0]),
    )  # fmt: skip


def tag_keyboard(biz: Business, actor: Actor, tags: Sequence[str]) -> InlineKeyboardMarkup:
    """A button per configured service tag, three a row, then "no service"."""
    buttons = [inline_button(tag, TagPick(index=i)) for i, tag in enumerate(tags)]
    label = biz.texts.plain(actor.locale, "staff.button_no_service")
    none = inline_button(label, TagPick(index=-1))
    return inline_markup(*(buttons[i : i + 3] for i in range(0, len(buttons), 3)), [none])

"""Customer side: sign-up (intro, consent, own contact, name), balance, redemption buttons."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from bot.services import customers
from bot.services.context import Business
from bot.services.customers import CONSENT_POLICY_VERSION
from bot.services.errors import ServiceError
from bot.services.redemptions import decide_redemption
from bot.services.roles import Actor
from handlers.keyboards import ConsentAnswer, RedeemAnswer, consent_keyboard, contact_keyboard
from handlers.replies import refusal, text


class Signup(StatesGroup):
    consent = State()
    contact = State()
    name = State()


async def start_signup(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    """/start for anyone: a known customer sees their card, a newcomer the programme first."""
    known = await customers.get_by_telegram_id(biz, actor.tg_id)
    if known is not None:
        await state.clear()
        await message.answer(
            text(biz, actor, "customer.welcome_back", name=known.name, card_code=known.card_code)
        )
        return
    loyalty = biz.settings.loyalty
    business = biz.settings.business.name
    await message.answer(
        text(
            biz,
            actor,
            "customer.intro",
            business=business,
            earn_percent=loyalty.earn_percent,
            point_value=loyalty.point_value,
            redeem_share=loyalty.max_redeem_share * 100,
            welcome_bonus=loyalty.welcome_bonus,
        )
    )
    await message.answer(
        text(
            biz, actor, "customer.consent", business=business, policy_version=CONSENT_POLICY_VERSION
        ),
        reply_markup=consent_keyboard(biz, actor),
    )
    await state.set_state(Signup.consent)


async def on_start(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    await start_signup(message, biz, actor, state)


async def on_consent(
    query: CallbackQuery,
    callback_data: ConsentAnswer,
    biz: Business,
    actor: Actor,
    state: FSMContext,
) -> None:
    await query.answer()
    if not callback_data.agree:
        await state.clear()
        await query.message.answer(text(biz, actor, "customer.consent_declined"))  # type: ignore[union-attr]
        return
    await state.update_data(consent_at=biz.clock.now().isoformat())
    await state.set_state(Signup.contact)
    await query.message.answer(  # type: ignore[union-attr]
        text(biz, actor, "customer.ask_contact"), reply_markup=contact_keyboard(biz, actor)
    )


async def on_contact(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    contact = message.contact
    assert contact is not None and message.from_user is not None
    if contact.user_id != message.from_user.id:
        await message.answer(
            text(biz, actor, "errors.foreign_contact"), reply_markup=contact_keyboard(biz, actor)
        )
        return
    await state.update_data(phone=contact.phone_number)
    await state.set_state(Signup.name)
    await message.answer(text(biz, actor, "customer.ask_name"), reply_markup=ReplyKeyboardRemove())


async def on_contact_missing(message: Message, biz: Business, actor: Actor) -> None:
    await message.answer(
        text(biz, actor, "customer.ask_contact"), reply_markup=contact_keyboard(biz, actor)
    )


async def on_name(
    message: Message, biz: Business, actor: Actor, key: str, state: FSMContext
) -> None:
    data = await state.get_data()
    try:
        outcome = await customers.register(
            biz,
            key=key,
            tg_id=actor.tg_id,
            phone=data["phone"],
            name=message.text or "",
            language=actor.locale,
            consent_at=datetime.fromisoformat(data["consent_at"]),
        )
    except ServiceError as err:
        await message.answer(refusal(biz, actor, err))
        if err.code in {"phone_taken", "bad_phone"}:
            await state.clear()
        return
    await state.clear()
    await message.answer(
        text(
            biz,
            actor,
            "customer.registered",
            name=outcome.result.name,
            card_code=outcome.result.card_code,
        )
    )


async def on_name_not_text(message: Message, biz: Business, actor: Actor) -> None:
    await message.answer(text(biz, actor, "errors.bad_name", maximum=customers.MAX_NAME_LENGTH))


async def on_balance(message: Message, biz: Business, actor: Actor) -> None:
    found = await customers.get_by_telegram_id(biz, actor.tg_id)
    if found is None:
        await message.answer(text(biz, actor, "customer.not_registered"))
        return
    await message.answer(
        text(
            biz,
            actor,
            "customer.balance",
            balance=found.balance,
            value=found.balance_value,
            card_code=found.card_code,
        )
    )


DECISION_TEXT = {
    "confirmed": "customer.decision_confirmed",
    "declined": "customer.decision_declined",
    "expired": "customer.decision_expired",
    "failed": "customer.decision_failed",
}


async def on_redeem_answer(
    query: CallbackQuery, callback_data: RedeemAnswer, biz: Business, actor: Actor, key: str
) -> None:
    try:
        outcome = await decide_redemption(
            biz, actor.tg_id, key, callback_data.redemption_id, accept=callback_data.answer == "y"
        )
    except ServiceError as err:
        await query.answer(refusal(biz, actor, err), show_alert=True)
        return
    await query.answer()
    if query.message is not None and not outcome.duplicate:
        await query.message.edit_reply_markup(reply_markup=None)  # type: ignore[union-attr]
        await query.message.answer(text(biz, actor, DECISION_TEXT[outcome.result.state]))  # type: ignore[union-attr]


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="customer")
    router.message.register(on_start, CommandStart())
    router.callback_query.register(on_consent, ConsentAnswer.filter(), StateFilter(Signup.consent))
    router.message.register(on_contact, StateFilter(Signup.contact), F.contact)
    router.message.register(
        on_contact_missing, StateFilter(Signup.contact), ~F.text.startswith("/")
    )
    router.message.register(on_name, StateFilter(Signup.name), F.text, ~F.text.startswith("/"))
    router.message.register(on_name_not_text, StateFilter(Signup.name))
    router.message.register(on_balance, Command("balance"))
    router.callback_query.register(on_redeem_answer, RedeemAnswer.filter())
    return router

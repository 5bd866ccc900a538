"""Customer side: sign-up (programme, consent, own contact, name, birthday, profile fields),
card, balance, history, offers, language, settings, data export and erasure, and the
redemption buttons.

Sign-up progress after the contact lives in the database (bot.services.signup), so any
text a customer sends while a question is open is taken as the answer to it, whatever the
conversation state: /cancel, a restart or a week's pause resume where they stopped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
)
from aiogram.utils.deep_linking import create_start_link
from pydantic import Field

from bot.config import SUPPORTED_LOCALES
from bot.services import privacy, profile, signup
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.redemptions import decide_redemption
from bot.services.roles import Actor
from bot.services.tiers import ladder_view
from handlers.deep_links import CARD_LINK_PREFIX, REFERRAL_PREFIX
from handlers.keyboards import ConsentAnswer, RedeemAnswer, consent_keyboard, contact_keyboard
from handlers.replies import clear_buttons, refusal, replace_text, text

SKIP_CHOICE = -1


class Signup(StatesGroup):
    consent = State()
    contact = State()


class SignupAnswer(CallbackData, prefix="su"):
    """A button under a sign-up question: a choice's index, or SKIP_CHOICE."""

    step_no: Annotated[int, Field(ge=0, le=100)]
    choice: Annotated[int, Field(ge=-1, le=1000)]


class HistoryPageButton(CallbackData, prefix="hp"):
    page: Annotated[int, Field(ge=0, le=100_000)]


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class MarketingChoice(CallbackData, prefix="mkt"):
    on: bool


class ForgetAnswer(CallbackData, prefix="fg"):
    confirm: bool


def _button(label: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=data.pack())


def _markup(*rows: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


# --------------------------------------------------------------------------- sign-up


async def start_signup(
    message: Message,
    biz: Business,
    actor: Actor,
    state: FSMContext,
    referrer_code: str | None = None,
) -> None:
    """/start: a member sees their card, a half-joined customer the open question, and a
    newcomer what the programme gives and what the next status takes, then consent."""
    progress = await signup.current(biz, actor.tg_id)
    if progress is not None:
        await state.clear()
        if progress.step is not None:
            await ask_step(message, biz, actor, progress)
            return
        if signup.is_own_link(progress, referrer_code):
            await message.answer(text(biz, actor, "customer.referral_own_link"))
            return
        await message.answer(
            text(
                biz,
                actor,
                "customer.welcome_back",
                name=progress.name,
                card_code=progress.card_code,
            )
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
            tiers=ladder_view(biz.settings, actor.locale),
            expiry_months=biz.settings.expiry.months,
        )
    )
    fields = [f.labels[actor.locale] for f in biz.settings.profile.fields]
    await message.answer(
        text(
            biz,
            actor,
            "customer.consent",
            business=business,
            policy_version=biz.settings.privacy.policy_version,
            profile_fields=fields,
        ),
        reply_markup=consent_keyboard(biz, actor),
    )
    await state.set_state(Signup.consent)
    await state.update_data(referrer=referrer_code)


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


async def on_contact(
    message: Message, biz: Business, actor: Actor, key: str, state: FSMContext
) -> None:
    contact = message.contact
    assert contact is not None and message.from_user is not None
    if contact.user_id != message.from_user.id:
        await message.answer(
            text(biz, actor, "errors.foreign_contact"), reply_markup=contact_keyboard(biz, actor)
        )
        return
    data = await state.get_data()
    await state.clear()  # a refusal ends this sign-up attempt too (handlers.errors answers)
    outcome = await signup.begin(
        biz,
        key=key,
        tg_id=actor.tg_id,
        phone=contact.phone_number,
        language=actor.locale,
        consent_at=datetime.fromisoformat(data["consent_at"]),
        referrer_code=data.get("referrer"),
    )
    await ask_step(message, biz, actor, outcome.result)


async def on_contact_missing(message: Message, biz: Business, actor: Actor) -> None:
    await message.answer(
        text(biz, actor, "customer.ask_contact"), reply_markup=contact_keyboard(biz, actor)
    )


def _step_keyboard(
    biz: Business, actor: Actor, progress: signup.SignupState
) -> InlineKeyboardMarkup | ReplyKeyboardRemove:
    step, step_no = progress.step, progress.step_no
    assert step is not None and step_no is not None
    skip = [
        _button(
            text(biz, actor, "customer.button_skip"),
            SignupAnswer(step_no=step_no, choice=SKIP_CHOICE),
        )
    ]
    if step == signup.STEP_BIRTHDAY:
        return _markup(skip)
    field = signup.profile_field(biz.settings, step)
    if field is None:
        return ReplyKeyboardRemove()
    choices = [
        [_button(choice, SignupAnswer(step_no=step_no, choice=n))]
        for n, choice in enumerate(field.choices)
    ]
    rows = [*choices, [] if field.required else skip]
    return _markup(*rows) if any(rows) else ReplyKeyboardRemove()


def _step_text(biz: Business, actor: Actor, progress: signup.SignupState) -> str:
    step = progress.step
    assert step is not None
    if step == signup.STEP_NAME:
        return text(biz, actor, "customer.ask_name")
    if step == signup.STEP_BIRTHDAY:
        return text(biz, actor, "customer.ask_birthday")
    field = signup.profile_field(biz.settings, step)
    assert field is not None
    return text(
        biz,
        actor,
        "customer.ask_profile",
        label=field.labels[actor.locale],
        kind=field.kind,
        low=field.min,
        high=field.max,
        required=field.required,
    )


async def ask_step(
    message: Message, biz: Business, actor: Actor, progress: signup.SignupState
) -> None:
    if progress.step is None:
        await message.answer(
            text(
                biz,
                actor,
                "customer.registered",
                name=progress.name,
                card_code=progress.card_code,
                bonus=progress.welcome_bonus,
            ),
            reply_markup=ReplyKeyboardRemove(),
        )
        return
    await message.answer(
        _step_text(biz, actor, progress), reply_markup=_step_keyboard(biz, actor, progress)
    )


async def on_signup_text(message: Message, biz: Business, actor: Actor, key: str) -> None:
    """Plain text from someone whose sign-up has an open question: the answer to it."""
    progress = await signup.current(biz, actor.tg_id)
    if progress is None or progress.step is None:
        return
    try:
        outcome = await signup.answer(
            biz, key=key, tg_id=actor.tg_id, step=progress.step, text=message.text or ""
        )
    except ServiceError as err:
        # Not left to handlers.errors: a wrong answer re-asks the step with its buttons.
        await message.answer(
            refusal(biz, actor, err), reply_markup=_step_keyboard(biz, actor, progress)
        )
        return
    await ask_step(message, biz, actor, outcome.result)


async def on_signup_not_text(message: Message, biz: Business, actor: Actor) -> None:
    progress = await signup.current(biz, actor.tg_id)
    if progress is not None and progress.step is not None:
        await ask_step(message, biz, actor, progress)


async def on_signup_button(
    query: CallbackQuery, callback_data: SignupAnswer, biz: Business, actor: Actor, key: str
) -> None:
    order = signup.steps(biz.settings)
    step = order[callback_data.step_no] if 0 <= callback_data.step_no < len(order) else "?"
    answer_text: str | None = None
    field = signup.profile_field(biz.settings, step)
    if callback_data.choice != SKIP_CHOICE:
        if field is None or not 0 <= callback_data.choice < len(field.choices):
            await query.answer(text(biz, actor, "errors.signup_step_passed"), show_alert=True)
            return
        answer_text = field.choices[callback_data.choice]
    outcome = await signup.answer(biz, key=key, tg_id=actor.tg_id, step=step, text=answer_text)
    await query.answer()
    await clear_buttons(query)
    if query.message is not None:
        await ask_step(query.message, biz, actor, outcome.result)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- member commands


async def on_card(message: Message, bot: Bot, biz: Business, actor: Actor) -> None:
    card = await profile.card(biz, actor.tg_id)
    staff_link = await create_start_link(bot, f"{CARD_LINK_PREFIX}{card.card_code}")
    invite_link = await create_start_link(bot, f"{REFERRAL_PREFIX}{card.card_code}")
    referral = biz.settings.referral
    await message.answer_photo(
        BufferedInputFile(profile.qr_png(staff_link), filename=f"card-{card.card_code}.png"),
        caption=text(
            biz,
            actor,
            "customer.card",
            card_code=card.card_code,
            name=card.name,
            invite_link=invite_link,
            referrer_points=referral.referrer_points,
            referred_points=referral.referred_points,
            min_purchase=referral.min_purchase,
        ),
    )


async def on_balance(message: Message, biz: Business, actor: Actor) -> None:
    summary = await profile.balance(biz, actor.tg_id)
    await message.answer(text(biz, actor, "customer.balance", s=summary))


def _history_keyboard(page: profile.HistoryPage) -> InlineKeyboardMarkup | None:
    """Older pages to the right: newest first."""
    row = []
    if page.page > 0:
        row.append(_button("«", HistoryPageButton(page=page.page - 1)))
    if page.page + 1 < page.pages:
        row.append(_button("»", HistoryPageButton(page=page.page + 1)))
    return _markup(row) if row else None


async def on_history(message: Message, biz: Business, actor: Actor) -> None:
    page = await profile.history(biz, actor.tg_id, 0)
    await message.answer(
        text(biz, actor, "customer.history", h=page), reply_markup=_history_keyboard(page)
    )


async def on_history_page(
    query: CallbackQuery, callback_data: HistoryPageButton, biz: Business, actor: Actor
) -> None:
    page = await profile.history(biz, actor.tg_id, callback_data.page)
    await query.answer()
    await replace_text(query, text(biz, actor, "customer.history", h=page), _history_keyboard(page))


async def on_offers(message: Message, biz: Business, actor: Actor) -> None:
    offers = await profile.offers(biz, actor.tg_id)
    await message.answer(text(biz, actor, "customer.offers", o=offers))


async def on_language(message: Message, biz: Business, actor: Actor) -> None:
    await message.answer(
        text(biz, actor, "customer.choose_language"),
        reply_markup=_markup(
            [
                _button(text(biz, actor, f"customer.language_{code}"), LanguageChoice(code=code))
                for code in SUPPORTED_LOCALES
            ]
        ),
    )


async def on_language_choice(
    query: CallbackQuery, callback_data: LanguageChoice, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await profile.update_preferences(biz, key, actor.tg_id, language=callback_data.code)
    await query.answer()
    if query.message is not None:
        locale = outcome.result.language
        await query.message.answer(biz.texts.render(locale, "customer.language_set"))  # type: ignore[union-attr]


def _settings_keyboard(biz: Business, actor: Actor, on: bool) -> InlineKeyboardMarkup:
    label = "customer.button_marketing_off" if on else "customer.button_marketing_on"
    return _markup([_button(text(biz, actor, label), MarketingChoice(on=not on))])


async def on_settings(message: Message, biz: Business, actor: Actor) -> None:
    prefs = await profile.preferences(biz, actor.tg_id)
    await message.answer(
        text(biz, actor, "customer.settings", p=prefs),
        reply_markup=_settings_keyboard(biz, actor, prefs.marketing_opt_in),
    )


async def on_marketing_choice(
    query: CallbackQuery, callback_data: MarketingChoice, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await profile.update_preferences(
        biz, key, actor.tg_id, marketing_opt_in=callback_data.on
    )
    await query.answer()
    await replace_text(
        query,
        text(biz, actor, "customer.settings", p=outcome.result),
        _settings_keyboard(biz, actor, outcome.result.marketing_opt_in),
    )


async def on_mydata(message: Message, biz: Business, actor: Actor) -> None:
    data = await privacy.export(biz, actor.tg_id)
    document = json.dumps(data, ensure_ascii=False, indent=2).encode()
    await message.answer_document(
        BufferedInputFile(document, filename="my-data.json"),
        caption=text(biz, actor, "customer.mydata"),
    )


async def on_forget(message: Message, biz: Business, actor: Actor) -> None:
    if actor.customer_id is None:
        await message.answer(text(biz, actor, "errors.not_registered"))
        return
    await message.answer(
        text(biz, actor, "customer.forget_confirm", business=biz.settings.business.name),
        reply_markup=_markup(
            [
                _button(text(biz, actor, "customer.button_forget_yes"), ForgetAnswer(confirm=True)),
                _button(text(biz, actor, "customer.button_forget_no"), ForgetAnswer(confirm=False)),
            ]
        ),
    )


async def on_forget_answer(
    query: CallbackQuery,
    callback_data: ForgetAnswer,
    biz: Business,
    actor: Actor,
    key: str,
    state: FSMContext,
) -> None:
    if callback_data.confirm:
        await privacy.forget(biz, key, actor.tg_id)  # a refusal: handlers.errors answers
    await query.answer()
    await clear_buttons(query)
    if not callback_data.confirm:
        if query.message is not None:
            await query.message.answer(text(biz, actor, "customer.forget_kept"))  # type: ignore[union-attr]
        return
    await state.clear()
    if query.message is not None:
        await query.message.answer(text(biz, actor, "customer.forgotten"))  # type: ignore[union-attr]


DECISION_TEXT = {
    "confirmed": "customer.decision_confirmed",
    "declined": "customer.decision_declined",
    "expired": "customer.decision_expired",
    "failed": "customer.decision_failed",
}


async def on_redeem_answer(
    query: CallbackQuery, callback_data: RedeemAnswer, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await decide_redemption(
        biz, actor.tg_id, key, callback_data.redemption_id, accept=callback_data.answer == "y"
    )
    await query.answer()
    if query.message is not None and not outcome.duplicate:
        await clear_buttons(query)
        await query.message.answer(text(biz, actor, DECISION_TEXT[outcome.result.state]))  # type: ignore[union-attr]


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="customer")
    not_command = ~F.text.startswith("/")
    router.message.register(on_start, CommandStart())
    router.callback_query.register(on_consent, ConsentAnswer.filter(), StateFilter(Signup.consent))
    router.message.register(on_contact, StateFilter(Signup.contact), F.contact)
    router.message.register(on_contact_missing, StateFilter(Signup.contact), not_command)
    router.message.register(on_card, Command("card"))
    router.message.register(on_balance, Command("balance"))
    router.message.register(on_history, Command("history"))
    router.message.register(on_offers, Command("offers"))
    router.message.register(on_language, Command("language"))
    router.message.register(on_settings, Command("settings"))
    router.message.register(on_mydata, Command("mydata"))
    router.message.register(on_forget, Command("forget"))
    router.callback_query.register(on_signup_button, SignupAnswer.filter())
    router.callback_query.register(on_history_page, HistoryPageButton.filter())
    router.callback_query.register(on_language_choice, LanguageChoice.filter())
    router.callback_query.register(on_marketing_choice, MarketingChoice.filter())
    router.callback_query.register(on_forget_answer, ForgetAnswer.filter())
    router.callback_query.register(on_redeem_answer, RedeemAnswer.filter())
    router.message.register(on_signup_text, F.text, not_command)
    router.message.register(on_signup_not_text, ~F.text)
    return router

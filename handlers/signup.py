"""Sign-up: what the programme gives, consent, the customer's own contact, name, birthday
and the business's profile fields.

Progress after the contact lives in the database (bot.services.members.signup), so any text a
customer sends while a question is open is taken as the answer to it, whatever the
conversation state: /cancel, a restart or a week's pause resume where they stopped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyKeyboardRemove
from pydantic import Field

from bot.phones import looks_like_phone
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.members import signup
from bot.services.members.program import program_rules
from bot.services.people.roles import Actor, Role
from handlers.keyboards import (
    ConsentAnswer,
    consent_keyboard,
    contact_keyboard,
    inline_button,
    inline_markup,
)
from handlers.replies import clear_buttons, refusal, text

SKIP_CHOICE = -1
OFFERS_ANSWERS = (signup.OFFERS_YES, signup.OFFERS_NO)  # the offers question's buttons


class Signup(StatesGroup):
    consent = State()
    contact = State()


class SignupAnswer(CallbackData, prefix="su"):
    """A button under a sign-up question: a choice's index, or SKIP_CHOICE."""

    step_no: Annotated[int, Field(ge=0, le=100)]
    choice: Annotated[int, Field(ge=-1, le=1000)]


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
    business = biz.settings.business.name
    rules = program_rules(biz.settings, actor.locale)
    await message.answer(text(biz, actor, "customer.intro", r=rules))
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


class JoinAsCustomer(CallbackData, prefix="jc"):
    """The owner's landing: join the programme as a customer after all."""


async def on_start(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    if actor.role == Role.OWNER and actor.customer_id is None:
        await message.answer(
            text(biz, actor, "owner.landing", business=biz.settings.business.name),
            reply_markup=inline_markup(
                [inline_button(text(biz, actor, "owner.button_join_as_customer"), JoinAsCustomer())]
            ),
        )
        return
    await start_signup(message, biz, actor, state)


async def on_consent(
    query: CallbackQuery,
    callback_data: ConsentAnswer,
    biz: Business,
    actor: Actor,
    state: FSMContext,
) -> None:
    await query.answer()
    await clear_buttons(query)  # answered: the consent buttons go
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
    if signup.contact_phone(biz, contact.phone_number) is None:  # the step stays open
        await message.answer(
            text(biz, actor, "customer.contact_refused", phone=contact.phone_number[:32]),
            reply_markup=contact_keyboard(biz, actor),
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
    """Anything but the contact: a typed number is told why the button is needed."""
    typed = looks_like_phone(message.text or "")
    await message.answer(
        text(biz, actor, "customer.typed_phone" if typed else "customer.ask_contact_again"),
        reply_markup=contact_keyboard(biz, actor),
    )


def _step_keyboard(
    biz: Business, actor: Actor, progress: signup.SignupState
) -> InlineKeyboardMarkup | ReplyKeyboardRemove:
    step, step_no = progress.step, progress.step_no
    assert step is not None and step_no is not None
    skip = [
        inline_button(
            text(biz, actor, "customer.button_skip"),
            SignupAnswer(step_no=step_no, choice=SKIP_CHOICE),
        )
    ]
    if step == signup.STEP_BIRTHDAY:
        return inline_markup(skip)
    if step == signup.STEP_OFFERS:
        return inline_markup(
            [
                inline_button(text(biz, actor, f"customer.button_offers_{answer}"),
                              SignupAnswer(step_no=step_no, choice=n))
                for n, answer in enumerate(OFFERS_ANSWERS)
            ]
        )  # fmt: skip
    field = signup.profile_field(biz.settings, step)
    if field is None:
        return ReplyKeyboardRemove()
    choices = [
        [inline_button(choice, SignupAnswer(step_no=step_no, choice=n))]
        for n, choice in enumerate(field.choices)
    ]
    rows = [*choices, [] if field.required else skip]
    return inline_markup(*rows) if any(rows) else ReplyKeyboardRemove()


def _step_text(biz: Business, actor: Actor, progress: signup.SignupState) -> str:
    step = progress.step
    assert step is not None
    if step == signup.STEP_NAME:
        return text(biz, actor, "customer.ask_name")
    if step == signup.STEP_BIRTHDAY:
        return text(biz, actor, "customer.ask_birthday")
    if step == signup.STEP_OFFERS:
        return text(biz, actor, "customer.ask_offers", business=biz.settings.business.name)
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
        raise SkipHandler  # no question open: handlers.fallback answers
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
    if progress is None or progress.step is None:
        raise SkipHandler
    await ask_step(message, biz, actor, progress)


async def on_signup_button(
    query: CallbackQuery, callback_data: SignupAnswer, biz: Business, actor: Actor, key: str
) -> None:
    order = signup.steps(biz.settings)
    step = order[callback_data.step_no] if 0 <= callback_data.step_no < len(order) else "?"
    answer_text: str | None = None
    field = signup.profile_field(biz.settings, step)
    if step == signup.STEP_OFFERS and 0 <= callback_data.choice < len(OFFERS_ANSWERS):
        answer_text = OFFERS_ANSWERS[callback_data.choice]
    elif callback_data.choice != SKIP_CHOICE:
        if field is None or not 0 <= callback_data.choice < len(field.choices):
            await query.answer(text(biz, actor, "errors.signup_step_passed"), show_alert=True)
            return
        answer_text = field.choices[callback_data.choice]
    outcome = await signup.answer(biz, key=key, tg_id=actor.tg_id, step=step, text=answer_text)
    await query.answer()
    await clear_buttons(query)
    if query.message is not None:
        await ask_step(query.message, biz, actor, outcome.result)  # type: ignore[arg-type]


async def on_join_as_customer(
    query: CallbackQuery, biz: Business, actor: Actor, state: FSMContext
) -> None:
    await query.answer()
    await clear_buttons(query)
    if isinstance(query.message, Message):
        await start_signup(query.message, biz, actor, state)


def make_router() -> Router:
    """Registered last: its catch-all text handlers answer the open sign-up question."""
    router = Router(name="signup")
    router.callback_query.register(on_join_as_customer, JoinAsCustomer.filter())
    not_command = ~F.text.startswith("/")
    router.message.register(on_start, CommandStart())
    router.callback_query.register(on_consent, ConsentAnswer.filter(), StateFilter(Signup.consent))
    router.message.register(on_contact, StateFilter(Signup.contact), F.contact)
    router.message.register(on_contact_missing, StateFilter(Signup.contact), not_command)
    router.callback_query.register(on_signup_button, SignupAnswer.filter())
    router.message.register(on_signup_text, F.text, not_command)
    router.message.register(on_signup_not_text, ~F.text)
    return router

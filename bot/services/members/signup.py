"""Sign-up after consent: own contact, name, birthday, the business's profile fields, bonus.

Where a sign-up stands is stored in the database, not only in the conversation state, so
it survives /cancel, a restart with in-memory FSM storage, or a customer who simply comes
back days later: ``customers.signup_step`` names the question being asked (``name``,
``birthday``, ``p:<field code>``) and is None once sign-up is complete. Nothing is stored
before consent: consent and the contact arrive together in :func:`begin`, which creates
the row (or links the one staff entered by the same phone). Until then the conversation
state alone holds the consent time and an invitation's referrer; an interruption there
means starting from /start again, which costs the customer two taps.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.codes import looks_like_card_code
from bot.config import ProfileField, Settings
from bot.db.models import Customer, ForgottenIdentity, LedgerKind, Purchase
from bot.phones import normalise_phone
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.members.answers import parse_birthday, parse_profile_value
from bot.services.members.identity import identity_hashes
from bot.services.money.ledger import post
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people import mileage
from bot.services.people.customers import (
    clean_name,
    search_key,
    unique_card_code,
)

STEP_NAME = "name"
STEP_BIRTHDAY = "birthday"
STEP_OFFERS = "offers"  # the last question: offers and greetings, yes or no
PROFILE_PREFIX = "p:"
SKIP = None  # the answer of a "Skip" button
OFFERS_YES, OFFERS_NO = "yes", "no"  # the offers question's two buttons



async def was_forgotten(session: AsyncSession, settings: Settings, tg_id: int) -> bool:
    """Whether this Telegram id used /forget before: it joins again with no welcome bonus
    and as nobody's referral, whatever the bonus amounts are."""
    hashes = identity_hashes(settings, str(tg_id))
    found = await session.scalar(
        select(ForgottenIdentity.id_hash).where(ForgottenIdentity.id_hash.in_(hashes)).limit(1)
    )
    return found is not None


def steps(settings: Settings) -> list[str]:
    profile = [PROFILE_PREFIX + f.code for f in settings.profile.fields]
    return [STEP_NAME, STEP_BIRTHDAY, *profile, STEP_OFFERS]


def is_answered(customer: Customer, step: str) -> bool:
    """The card already holds this answer (a card staff entered or `import` brought):
    joining keeps it and does not ask again."""
    if step == STEP_NAME:
        return bool(customer.name)
    if step == STEP_BIRTHDAY:
        return customer.birthday is not None
    if step == STEP_OFFERS:
        return customer.marketing_opt_in_at is not None
    return (customer.profile or {}).get(step[len(PROFILE_PREFIX) :]) is not None


def next_step(settings: Settings, step: str | None, customer: Customer | None = None) -> str | None:
    """The question after ``step`` (None: the first) that ``customer``'s card does not
    answer yet; None when there is none left."""
    order = steps(settings)
    if step is not None and step not in order:
        return None
    rest = order if step is None else order[order.index(step) + 1 :]
    return next((s for s in rest if customer is None or not is_answered(customer, s)), None)


def profile_field(settings: Settings, step: str) -> ProfileField | None:
    if not step.startswith(PROFILE_PREFIX):
        return None
    code = step[len(PROFILE_PREFIX) :]
    return next((f for f in settings.profile.fields if f.code == code), None)


class SignupState(BaseModel):
    """Where a customer's sign-up stands; ``step`` None means complete."""

    customer_id: int
    card_code: str
    name: str | None = personal()
    step: str | None
    step_no: int | None
    welcome_bonus: int = 0


def is_own_link(state: SignupState, referrer_code: str | None) -> bool:
    """A member opening their own invitation link (nobody invites themselves)."""
    return referrer_code is not None and referrer_code.upper() == state.card_code


def _state(settings: Settings, customer: Customer, bonus: int = 0) -> SignupState:
    order = steps(settings)
    step = customer.signup_step
    return SignupState(
        customer_id=customer.id,
        card_code=customer.card_code,
        name=customer.name,
        step=step,
        step_no=order.index(step) if step in order else None,
        welcome_bonus=bonus,
    )


async def _by_tg(session: AsyncSession, tg_id: int) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))


async def current(biz: Business, tg_id: int) -> SignupState | None:
    """The sign-up of ``tg_id``, or None for someone who has not shared a contact yet."""
    async with biz.db.read() as session:
        customer = await _by_tg(session, tg_id)
        return _state(biz.settings, customer) if customer else None


def contact_phone(biz: Business, phone: str) -> str | None:
    """The number of the customer's own shared contact in E.164, or None if it cannot be
    a phone number at all (any country; ``business.phone_region`` only for bare digits)."""
    return normalise_phone(phone, biz.settings.business.phone_region, shared_contact=True)


async def _existing_or_attach(
    session: AsyncSession,
    biz: Business,
    *,
    tg_id: int,
    phone: str,
    language: str,
    consent_at: datetime,
    referrer_code: str | None,
) -> tuple[Customer, bool]:
    """The chat's customer, and whether it is new here: the row already there (a repeated
    or raced start), else a new one, or the one staff entered (or imported) with this
    phone, linked to the chat."""
    existing = await _by_tg(session, tg_id)
    if existing is not None:
        return existing, False
    normalised = contact_phone(biz, phone)
    if normalised is None:
        raise ServiceError("bad_phone")
    customer = await session.scalar(select(Customer).where(Customer.phone == normalised))
    if customer is not None and customer.telegram_id is not None:
        raise ServiceError("phone_taken")
    if customer is None:
        customer = Customer(
            card_code=await unique_card_code(session),
            balance=0,
            created_at=biz.clock.now(),
            phone=normalised,
        )
        session.add(customer)
        await session.flush()
    customer.telegram_id = tg_id
    customer.language = language
    customer.consent_at = consent_at
    customer.consent_version = biz.settings.privacy.policy_version
    await _record_referrer(session, biz.settings, customer, tg_id, referrer_code)
    return customer, True


async def _record_referrer(
    session: AsyncSession, settings: Settings, customer: Customer, tg_id: int, code: str | None
) -> None:
    """Only a customer new to the business counts as referred: no purchases yet, never
    used /forget, and not the owner of the code (someone staff entered by phone opening
    the link of the card they were given)."""
    if not code or not looks_like_card_code(code) or customer.referred_by is not None:
        return
    if await was_forgotten(session, settings, tg_id):
        return
    referrer = await session.scalar(
        select(Customer).where(
            Customer.card_code == code.upper(),
            Customer.telegram_id.is_not(None),
            Customer.id != customer.id,
        )
    )
    bought = await session.scalar(select(exists().where(Purchase.customer_id == customer.id)))
    if referrer is not None and not bought:
        customer.referred_by = referrer.id


async def _finish(session: AsyncSession, biz: Business, customer: Customer, key: str) -> int:
    """Sign-up complete: the welcome bonus, unless this Telegram id used /forget before."""
    customer.signup_step = None
    bonus = biz.settings.loyalty.welcome_bonus
    if not bonus or customer.telegram_id is None:
        return 0
    if await was_forgotten(session, biz.settings, customer.telegram_id):
        return 0
    now = biz.clock.now()
    post(
        session,
        customer,
        kind=LedgerKind.BONUS,
        points=bonus,
        key=f"{key}:welcome",
        now=now,
        author_tg_id=None,
        reason="welcome",
    )
    enqueue(
        session,
        outbox_row(
            now=now,
            chat_id=customer.telegram_id,
            customer_id=customer.id,
            text=biz.texts.render(
                customer.language, "customer.welcome_bonus", points=bonus, balance=customer.balance
            ),
            kinds=biz.settings.outbox.kinds,
        ),
    )
    return bonus


async def begin(
    biz: Business,
    *,
    key: str,
    tg_id: int,
    phone: str,
    language: str,
    consent_at: datetime,
    referrer_code: str | None = None,
) -> Outcome[SignupState]:
    """Consent and the customer's own contact: the row exists from here on."""

    async def work(session: AsyncSession) -> SignupState:
        customer, new = await _existing_or_attach(
            session, biz, tg_id=tg_id, phone=phone, language=language, consent_at=consent_at,
            referrer_code=referrer_code,
        )  # fmt: skip
        if new:
            customer.signup_step = next_step(biz.settings, None, customer)
            bonus = 0 if customer.signup_step else await _finish(session, biz, customer, key)
            return _state(biz.settings, customer, bonus)
        return _state(biz.settings, customer)

    return await run_once(biz.db, biz.clock, key, SignupState, work)


async def register(
    biz: Business,
    *,
    key: str,
    tg_id: int,
    phone: str,
    name: str,
    language: str,
    consent_at: datetime,
) -> Outcome[SignupState]:
    """All at once (imports, demos, tests): consent, contact and name, no optional steps."""
    display_name = clean_name(name)

    async def work(session: AsyncSession) -> SignupState:
        customer, new = await _existing_or_attach(
            session, biz, tg_id=tg_id, phone=phone, language=language, consent_at=consent_at,
            referrer_code=None,
        )  # fmt: skip
        if not new:
            return _state(biz.settings, customer)
        customer.name, customer.name_key = display_name, search_key(display_name)
        bonus = await _finish(session, biz, customer, key)
        return _state(biz.settings, customer, bonus)

    return await run_once(biz.db, biz.clock, key, SignupState, work)


async def answer(
    biz: Business, *, key: str, tg_id: int, step: str | None, text: str | None
) -> Outcome[SignupState]:
    """The customer's answer to the current question (``text`` None: the Skip button).

    ``step`` is the question the answer belongs to (a button carries it); None means the
    current one. An answer to a question already passed is refused and changes nothing.
    """
    settings = biz.settings
    today = biz.clock.now().astimezone(settings.business.zone).date()

    async def work(session: AsyncSession) -> SignupState:
        customer = await _by_tg(session, tg_id)
        if customer is None:
            raise ServiceError("not_registered")
        current_step = customer.signup_step
        if current_step is None or (step is not None and step != current_step):
            raise ServiceError("signup_step_passed")
        field = profile_field(settings, current_step)
        if current_step == STEP_NAME:
            if text is SKIP:
                raise ServiceError("bad_name", maximum=64)
            name = clean_name(text)
            customer.name, customer.name_key = name, search_key(name)
        elif current_step == STEP_BIRTHDAY:
            customer.birthday = None if text is SKIP else parse_birthday(text, today, settings)
        elif current_step == STEP_OFFERS:
            if text not in (OFFERS_YES, OFFERS_NO):
                raise ServiceError("offers_use_buttons")
            customer.marketing_opt_in = text == OFFERS_YES
            customer.marketing_opt_in_at = biz.clock.now()
        elif field is not None:
            profile = dict(customer.profile or {})
            if text is SKIP:
                if field.required:
                    raise ServiceError("profile_required", field=field.code)
                profile.pop(field.code, None)
            else:
                profile[field.code] = parse_profile_value(field, text, today)
                if field.code == mileage.PROFILE_FIELD and isinstance(profile[field.code], int):
                    await mileage.report(
                        session,
                        settings.reminders,
                        customer.id,
                        profile[field.code],
                        biz.clock.now(),
                        author_tg_id=None,
                    )
            customer.profile = profile
        customer.signup_step = next_step(settings, current_step, customer)
        bonus = 0
        if customer.signup_step is None:
            bonus = await _finish(session, biz, customer, key)
        return _state(settings, customer, bonus)

    return await run_once(biz.db, biz.clock, key, SignupState, work)

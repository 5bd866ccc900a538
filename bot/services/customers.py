"""Customers: lookup by the one-token rule, sign-up, balance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.amounts import is_ascii_number
from bot.codes import looks_like_card_code, new_card_code
from bot.commands import AddCustomerRequest
from bot.db.models import Customer
from bot.phones import normalise_phone
from bot.services.audit import add_audit
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.roles import Actor

MAX_NAME_LENGTH = 64
FIND_LIMIT = 10


class CustomerView(BaseModel):
    customer_id: int
    card_code: str
    name: str | None = personal()
    phone: str | None = personal()
    balance: int
    balance_value: Decimal
    language: str


def view(customer: Customer, point_value: Decimal) -> CustomerView:
    return CustomerView(
        customer_id=customer.id,
        card_code=customer.card_code,
        name=customer.name,
        phone=customer.phone,
        balance=customer.balance,
        balance_value=(point_value * customer.balance).quantize(Decimal("0.01")),
        language=customer.language,
    )


async def find_by_token(session: AsyncSession, token: str) -> Customer | None:
    """SPEC's one token: card code, phone digits, or Telegram id; names only via /find."""
    if looks_like_card_code(token):
        return await session.scalar(select(Customer).where(Customer.card_code == token.upper()))
    phone = normalise_phone(token)
    if phone is not None:
        found = await session.scalar(select(Customer).where(Customer.phone == phone))
        if found is not None:
            return found
    if is_ascii_number(token) and len(token) <= 15:
        return await session.scalar(select(Customer).where(Customer.telegram_id == int(token)))
    return None


async def require_customer(session: AsyncSession, token: str) -> Customer:
    customer = await find_by_token(session, token)
    if customer is None:
        raise ServiceError("customer_not_found", token=token)
    return customer


async def search(biz: Business, query: str) -> list[CustomerView]:
    """/find: the token rule first, then a case-insensitive name search."""
    query = query.strip()
    async with biz.db.read() as session:
        exact = await find_by_token(session, query) if " " not in query else None
        if exact is not None:
            return [view(exact, biz.settings.loyalty.point_value)]
        pattern = f"%{_escape_like(query.casefold())}%"
        rows = await session.scalars(
            select(Customer)
            .where(Customer.name_key.like(pattern, escape="\\"))
            .order_by(Customer.name_key, Customer.id)
            .limit(FIND_LIMIT)
        )
        return [view(c, biz.settings.loyalty.point_value) for c in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get_by_telegram_id(biz: Business, tg_id: int) -> CustomerView | None:
    async with biz.db.read() as session:
        customer = await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))
        return view(customer, biz.settings.loyalty.point_value) if customer else None


async def get_by_id(biz: Business, customer_id: int) -> CustomerView | None:
    async with biz.db.read() as session:
        customer = await session.get(Customer, customer_id)
        return view(customer, biz.settings.loyalty.point_value) if customer else None


async def get_by_card_code(biz: Business, code: str) -> CustomerView | None:
    if not looks_like_card_code(code):
        return None
    async with biz.db.read() as session:
        customer = await session.scalar(select(Customer).where(Customer.card_code == code.upper()))
        return view(customer, biz.settings.loyalty.point_value) if customer else None


def clean_name(text: str) -> str:
    """A display name: printable, single-spaced, 1..64 characters; else ServiceError."""
    name = " ".join(text.split())
    if not name or len(name) > MAX_NAME_LENGTH or not _printable(name):
        raise ServiceError("bad_name", maximum=MAX_NAME_LENGTH)
    return name


# Joiners inside emoji (👩‍💻) are invisible format characters, but part of a real name.
_ALLOWED_FORMAT = frozenset("\u200d\ufe0f")


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch in _ALLOWED_FORMAT for ch in text)


def telegram_name(text: str, fallback: str) -> str:
    """A name taken from a Telegram profile: cleaned and shortened, never refused."""
    name = "".join(ch for ch in " ".join(text.split()) if _printable(ch))
    return name[:MAX_NAME_LENGTH].strip() or fallback


def search_key(name: str) -> str:
    """What /find matches names against; casefolding can lengthen a name ("ß" -> "ss")."""
    return name.casefold()[:MAX_NAME_LENGTH]


async def unique_card_code(session: AsyncSession) -> str:
    while True:
        code = new_card_code()
        if await session.scalar(select(Customer.id).where(Customer.card_code == code)) is None:
            return code


async def register(
    biz: Business,
    *,
    key: str,
    tg_id: int,
    phone: str,
    name: str,
    language: str,
    consent_at: datetime,
) -> Outcome[CustomerView]:
    """Sign-up in one call (imports, demos, tests): see bot.services.signup.register."""
    from bot.services import signup  # signup builds on this module

    outcome = await signup.register(
        biz,
        key=key,
        tg_id=tg_id,
        phone=phone,
        name=name,
        language=language,
        consent_at=consent_at,
    )
    found = await get_by_id(biz, outcome.result.customer_id)
    assert found is not None
    return Outcome(found, outcome.duplicate)


async def add_at_counter(
    biz: Business, actor: Actor, key: str, request: AddCustomerRequest
) -> Outcome[CustomerView]:
    """Staff enter a customer by phone at the counter (consent given there, recorded and
    audited); when the customer later joins in Telegram with that phone, the card is
    linked, so points collected meanwhile stay theirs."""
    phone = normalise_phone(request.phone)
    if phone is None:
        raise ServiceError("bad_phone")
    name = clean_name(request.name) if request.name else None
    now = biz.clock.now()

    async def work(session: AsyncSession) -> CustomerView:
        existing = await session.scalar(select(Customer).where(Customer.phone == phone))
        if existing is not None:
            raise ServiceError("phone_exists", card_code=existing.card_code)
        customer = Customer(
            card_code=await unique_card_code(session),
            phone=phone,
            name=name,
            name_key=search_key(name) if name else None,
            language=biz.texts.default_locale,
            balance=0,
            consent_at=now,
            consent_version=f"counter:{biz.settings.privacy.policy_version}",
            created_at=now,
        )
        session.add(customer)
        await session.flush()
        add_audit(
            session,
            now=now,
            actor_tg_id=actor.tg_id,
            actor_role=actor.role,
            action="customer_add",
            customer_id=customer.id,
            update_key=key,
        )
        return view(customer, biz.settings.loyalty.point_value)

    return await run_once(biz.db, biz.clock, key, CustomerView, work)

"""Customers: lookup by the one-token rule, sign-up, balance."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.codes import looks_like_card_code, new_card_code
from bot.db.models import Customer
from bot.money import points_value
from bot.numbers import is_ascii_number
from bot.phones import normalise_phone
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.people.audit import audit_act
from bot.services.people.roles import Actor
from bot.services.requests import AddCustomerRequest

MAX_NAME_LENGTH = 64
FIND_LIMIT = 10
MAX_TELEGRAM_ID_DIGITS = 15


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
        balance_value=points_value(customer.balance, point_value),
        language=customer.language,
    )


def token_params(token: str, region: str) -> dict[str, Any]:
    """What SPEC's one token can be, as bind parameters: a card code, or a phone and/or a
    Telegram id (digits can be two things at once). Empty: the token names nobody. (The
    names are not column names, so an UPDATE can bind them too.)"""
    if looks_like_card_code(token):
        return {"token_card_code": token.upper()}
    params: dict[str, Any] = {}
    phone = normalise_phone(token, region)
    if phone is not None:
        params["token_phone"] = phone
    if is_ascii_number(token) and len(token) <= MAX_TELEGRAM_ID_DIGITS:
        params["token_telegram_id"] = int(token)
    return params


_TOKEN_COLUMNS = {
    "token_card_code": Customer.card_code,
    "token_phone": Customer.phone,
    "token_telegram_id": Customer.telegram_id,
}


def token_where(params: Iterable[str]) -> ColumnElement[bool]:
    """The condition on ``customers`` for ``token_params``'s keys (bound by name), so a
    statement can be built once per shape and executed with the parameters."""
    return or_(*(_TOKEN_COLUMNS[name] == bindparam(name) for name in sorted(params)))


async def matching_customers(session: AsyncSession, token: str, region: str) -> list[Customer]:
    """Everyone SPEC's one token names: a card code, phone digits, or a Telegram id.

    Digits can be two things at once (someone's phone and another's Telegram id): all
    matches come back, in customer order, and the caller decides; names only via /find.
    """
    params = token_params(token, region)
    if not params:
        return []
    return list(
        await session.scalars(
            select(Customer).where(token_where(params)).order_by(Customer.id), params
        )
    )


def refuse_ambiguous(token: str, found: list[Any]) -> Any:
    """The one customer of ``found`` (ORM rows or ``Account``s); refused when the token
    named nobody or several people (the cashier then chooses from buttons)."""
    if not found:
        raise ServiceError("customer_not_found", token=token)
    if len(found) > 1:
        raise ServiceError(
            "ambiguous_customer",
            token=token,
            choices=[
                {"customer_id": c.id, "card_code": c.card_code, "name": c.name} for c in found
            ],
        )
    return found[0]


async def require_customer(session: AsyncSession, token: str, region: str) -> Customer:
    """The one customer ``token`` names; refused when it names nobody or several people
    (the cashier then chooses from buttons instead of the bot guessing)."""
    found: Customer = refuse_ambiguous(token, await matching_customers(session, token, region))
    return found


def refuse_own_account(actor: Actor, customer: Any) -> None:
    """Staff and owners never act on their own customer account (SPEC.md)."""
    if customer.telegram_id is not None and customer.telegram_id == actor.tg_id:
        raise ServiceError("own_account")


async def customer_for(session: AsyncSession, biz: Business, actor: Actor, token: str) -> Customer:
    """The customer a staff action names: one person, and not the actor themselves."""
    customer = await require_customer(session, token, biz.settings.business.phone_region)
    refuse_own_account(actor, customer)
    return customer


async def search(biz: Business, query: str) -> list[CustomerView]:
    """/find: the token rule first, then a case-insensitive name search."""
    query = query.strip()
    async with biz.db.read() as session:
        # the token rule first; a phone may be typed with spaces ("+7 916 555-01-01")
        exact = await matching_customers(session, query, biz.settings.business.phone_region)
        if exact:
            return [view(c, biz.settings.loyalty.point_value) for c in exact]
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
    return (await unique_card_codes(session, 1))[0]


async def unique_card_codes(session: AsyncSession, count: int) -> list[str]:
    """``count`` distinct card codes nobody has: one query per round of candidates (an
    import creates thousands of customers)."""
    codes: set[str] = set()
    while len(codes) < count:
        candidates = {new_card_code() for _ in range(count - len(codes))} - codes
        taken = await session.scalars(
            select(Customer.card_code).where(Customer.card_code.in_(candidates))
        )
        codes |= candidates - set(taken)
    return sorted(codes)


async def add_at_counter(
    biz: Business, actor: Actor, key: str, request: AddCustomerRequest
) -> Outcome[CustomerView]:
    """Staff enter a customer by phone at the counter (consent given there, recorded and
    audited); when the customer later joins in Telegram with that phone, the card is
    linked, so points collected meanwhile stay theirs."""
    phone = normalise_phone(request.phone, biz.settings.business.phone_region)
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
        audit_act(session, actor, "customer_add", key, now, customer.id)
        return view(customer, biz.settings.loyalty.point_value)

    return await run_once(biz.db, biz.clock, key, CustomerView, work)

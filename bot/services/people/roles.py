"""Who is talking: owner (from config), staff (active row), customer, or stranger."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Connection, Select, bindparam, select

from bot.db.models import ChatSettings, Customer, Owner, Staff
from bot.services.context import Business
from bot.services.outbox.contact import mark_reachable


class Role(StrEnum):
    OWNER = "owner"
    STAFF = "staff"
    CUSTOMER = "customer"
    STRANGER = "stranger"


# Which roles may use a privilege level: one table instead of a chain of ifs.
ALLOWED: dict[Role, frozenset[Role]] = {
    Role.STAFF: frozenset({Role.STAFF, Role.OWNER}),
    Role.OWNER: frozenset({Role.OWNER}),
}


@dataclass(frozen=True)
class Actor:
    tg_id: int
    role: Role
    locale: str
    customer_id: int | None = None
    staff_id: int | None = None
    outlet_code: str = ""  # resolve_actor fills it: the staff's outlet or the default
    # The rows it was resolved from (ACTOR_STATEMENT's), for a write transaction to check
    # they still hold (``still_holds``): what lets a process keep an actor between updates.
    seen: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)

    def may(self, level: Role) -> bool:
        return self.role in ALLOWED[level]


def _actor_statement() -> Select[Any]:
    me = select(bindparam("tg_id", type_=BigInteger).label("tg_id")).subquery()
    return (
        select(
            Owner.id,
            Staff.id,
            Staff.outlet_code,
            Customer.id,
            Customer.language,
            ChatSettings.language,
            Customer.unreachable_at,
        )
        .select_from(me)
        .outerjoin(Owner, Owner.telegram_id == me.c.tg_id)
        .outerjoin(Staff, (Staff.telegram_id == me.c.tg_id) & Staff.active.is_(True))
        .outerjoin(Customer, Customer.telegram_id == me.c.tg_id)
        .outerjoin(ChatSettings, ChatSettings.telegram_id == me.c.tg_id)
    )


# Built once, run for every update: the owner, active staff and customer rows of one id.
ACTOR_STATEMENT = _actor_statement()


class ActorChanged(Exception):
    """The owner, staff or customer rows an actor was resolved from changed before the
    transaction that relied on it committed (it rolled back): resolve again and retry."""


async def resolve_actor(biz: Business, tg_id: int, language_code: str | None) -> Actor:
    """One statement, outside a transaction: the owner, active staff and customer rows for
    this Telegram id.

    Every update passes here, so this is where a customer who had blocked the bot (a 403
    marked them unreachable) becomes reachable again: they are writing to it."""
    row = await biz.db.read_one(ACTOR_STATEMENT, {"tg_id": tg_id})
    assert row is not None  # the outer joins start from one row
    _, _, _, customer_id, _, _, unreachable_at = row
    if customer_id is not None and unreachable_at is not None:
        await mark_reachable(biz, customer_id)  # they wrote: the block is over
        return actor_of(biz, tg_id, language_code, (*row[:-1], None))
    return actor_of(biz, tg_id, language_code, tuple(row))


def actor_of(biz: Business, tg_id: int, language_code: str | None, row: tuple[Any, ...]) -> Actor:
    """Who ``tg_id`` is, from ACTOR_STATEMENT's row (pure: a kept row gives the same)."""
    owner_row, staff_id, outlet_code, customer_id, language, chosen, _ = row
    settings = biz.settings
    # a customer's card language; else what staff or an owner chose with /language; else
    # their Telegram app's
    locale = biz.texts.locale_for(
        language if customer_id is not None else chosen or language_code
    )
    if tg_id in settings.business.owner_ids or owner_row is not None:
        role = Role.OWNER
    elif staff_id is not None:
        role = Role.STAFF
    elif customer_id is not None:
        role = Role.CUSTOMER
    else:
        role = Role.STRANGER
    return Actor(
        tg_id=tg_id,
        role=role,
        locale=locale,
        customer_id=customer_id,
        staff_id=staff_id,
        outlet_code=outlet_code or settings.business.default_outlet,
        seen=row,
    )


def still_holds(conn: Connection, actor: Actor) -> None:
    """In a write transaction: raise ``ActorChanged`` (rolling it back) if the rows
    ``actor`` was resolved from changed since (an invite, a removal, ``/forget``,
    ``/language``, a sign-up, in this process or another). One statement; none for an
    actor not resolved from rows."""
    if actor.seen is None:
        return
    row = conn.execute(ACTOR_STATEMENT, {"tg_id": actor.tg_id}).one()
    if tuple(row) != actor.seen:
        raise ActorChanged(f"actor {actor.tg_id} changed")

"""Who is talking: owner (from config), staff (active row), customer, or stranger."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from bot.db.models import Customer, Staff
from bot.services.context import Business


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
    outlet_code: str | None = None

    def may(self, level: Role) -> bool:
        return self.role in ALLOWED[level]


async def resolve_actor(biz: Business, tg_id: int, language_code: str | None) -> Actor:
    settings = biz.settings
    async with biz.db.read() as session:
        staff = await session.scalar(
            select(Staff).where(Staff.telegram_id == tg_id, Staff.active.is_(True))
        )
        customer = await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))
    locale = biz.texts.locale_for(customer.language if customer else language_code)
    if tg_id in settings.business.owner_ids:
        role = Role.OWNER
    elif staff is not None:
        role = Role.STAFF
    elif customer is not None:
        role = Role.CUSTOMER
    else:
        role = Role.STRANGER
    default_outlet = settings.business.outlets[0].code
    return Actor(
        tg_id=tg_id,
        role=role,
        locale=locale,
        customer_id=customer.id if customer else None,
        staff_id=staff.id if staff else None,
        outlet_code=staff.outlet_code if staff else default_outlet,
    )

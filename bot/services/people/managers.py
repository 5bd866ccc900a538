"""Personal managers: the social bond of the sources' retention levels (seed 002: «2
Финансовая и социальная (персональный менеджер; ...)»; «Стратегический партнер: ...
Обслуживание персональным менеджером»).

The owner assigns an active staff member to a customer of the tiers
``tiers.personal_manager_tiers`` names (none: the ladder's top one; a b2b ladder's top is
«стратегический»):
``/manager <customer> <staff id or Telegram id>``, ``/manager <customer> -`` to stop. The
customer sees the name on /card; their questions and alerts reach the manager first
(``first_recipients``), and the manager may answer them whatever ``conversations.to_staff``
says. A manager removed from staff is no manager any more (their row stays, unused).
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Conversation, Customer, PersonalManager, Staff
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.audit import audit_act
from bot.services.people.chat_settings import language_in
from bot.services.people.customers import require_customer
from bot.services.people.roles import Actor

UNASSIGN = "-"  # ``/manager <customer> -``


class ManagerAssigned(BaseModel):
    customer_id: int
    customer_name: str | None = personal()
    card_code: str
    staff_id: int | None  # None: the customer has no manager any more
    staff_name: str | None = personal()


def eligible_tiers(settings: Settings) -> tuple[str, ...]:
    """The tier codes whose customers may have a personal manager."""
    return settings.tiers.personal_manager_tiers or (settings.tiers.ladder[-1].code,)


def in_top_category(settings: Settings, customer: Customer) -> bool:
    held = customer.tier or settings.tiers.ladder[0].code  # None: the ladder's first tier
    return held in eligible_tiers(settings)


async def manager_of(session: AsyncSession, customer_id: int) -> Staff | None:
    """The customer's personal manager while they are active staff, else None."""
    return await session.scalar(
        select(Staff)
        .join(PersonalManager, PersonalManager.staff_id == Staff.id)
        .where(PersonalManager.customer_id == customer_id, Staff.active.is_(True))
    )


async def first_recipients(
    session: AsyncSession, customer_id: int, others: set[int]
) -> tuple[list[int], Staff | None]:
    """Who hears about the customer, in order: their personal manager first, then
    ``others`` (the owners, staff as configured); and the manager."""
    manager = await manager_of(session, customer_id)
    if manager is None:
        return sorted(others), None
    return [manager.telegram_id, *sorted(others - {manager.telegram_id})], manager


async def manages_conversation(session: AsyncSession, tg_id: int, conversation_id: int) -> bool:
    """Whether ``tg_id`` is the personal manager of the conversation's customer."""
    customer_id = await session.scalar(
        select(Conversation.customer_id).where(Conversation.id == conversation_id)
    )
    if customer_id is None:
        return False
    manager = await manager_of(session, int(customer_id))
    return manager is not None and manager.telegram_id == tg_id


async def _staff_member(session: AsyncSession, token: str) -> Staff:
    """Active staff by their Telegram id (as /staff lists it) or their staff number."""
    digits = token.removeprefix("#")
    if not digits.isdigit() or len(digits) > 19:
        raise ServiceError("manager_not_staff", token=token)
    number, active = int(digits), Staff.active.is_(True)
    found = await session.scalar(select(Staff).where(active, Staff.telegram_id == number))
    if found is None:
        found = await session.scalar(select(Staff).where(active, Staff.id == number))
    if found is None:
        raise ServiceError("manager_not_staff", token=token)
    return found


async def assign(
    biz: Business, actor: Actor, key: str, customer_token: str, staff_token: str
) -> Outcome[ManagerAssigned]:
    """Assign (or with ``-`` remove) a customer's personal manager; the customer and the
    manager are told. Refused, nothing written: an unknown customer, someone not on the
    staff, a customer outside ``eligible_tiers``."""
    settings = biz.settings
    now = biz.clock.now()

    async def work(session: AsyncSession) -> ManagerAssigned:
        customer = await require_customer(session, customer_token, settings.business.phone_region)
        if staff_token == UNASSIGN:
            await session.execute(
                delete(PersonalManager).where(PersonalManager.customer_id == customer.id)
            )
            audit_act(session, actor, "manager_unassign", key, now, customer_id=customer.id)
            return _assigned(customer, None)
        staff = await _staff_member(session, staff_token)
        if not in_top_category(settings, customer):
            names = [t.name(actor.locale) for t in settings.tiers.ladder
                     if t.code in eligible_tiers(settings)]  # fmt: skip
            raise ServiceError("manager_not_top_tier", tiers=", ".join(names))
        row = await session.get(PersonalManager, customer.id)
        if row is None:
            session.add(PersonalManager(customer_id=customer.id, staff_id=staff.id,
                                        assigned_at=now, author_tg_id=actor.tg_id))  # fmt: skip
        else:
            row.staff_id, row.assigned_at, row.author_tg_id = staff.id, now, actor.tg_id
        audit_act(session, actor, "manager_assign", key, now, customer_id=customer.id,
                  staff_id=staff.id)  # fmt: skip
        await _tell_both(session, biz, customer, staff)
        return _assigned(customer, staff)

    return await run_once(biz.db, biz.clock, key, ManagerAssigned, work)


def _assigned(customer: Customer, staff: Staff | None) -> ManagerAssigned:
    return ManagerAssigned(
        customer_id=customer.id,
        customer_name=customer.name,
        card_code=customer.card_code,
        staff_id=staff.id if staff else None,
        staff_name=staff.name if staff else None,
    )


async def _tell_both(
    session: AsyncSession, biz: Business, customer: Customer, staff: Staff
) -> None:
    """The customer hears who their manager is; the manager, whom they look after."""
    row = customer_notice(
        biz, customer, "customer.manager_assigned", manager=staff.name,
        business=biz.settings.business.name,
    )  # fmt: skip
    if row is not None:
        enqueue(session, row)
    locale = biz.texts.locale_for(await language_in(session, staff.telegram_id))
    text = biz.texts.render(
        locale, "staff.manager_of", name=customer.name, card_code=customer.card_code
    )
    enqueue(
        session,
        outbox_row(now=biz.clock.now(), chat_id=staff.telegram_id, text=text,
                   kinds=biz.settings.outbox.kinds),
    )  # fmt: skip

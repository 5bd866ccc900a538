"""«Думаете о новом автомобиле?»: the trade-in's other trigger (seed 004: «Предложение
Trade-in в момент, когда клиент начинает интересоваться новой моделью или когда пробег ...
достигает определенной отметки»).

A button on /card and under each service reminder (``tradein.interest_button``) records the
customer's interest once (``car_interest``, one row per customer) and tells the business in
the same transaction, through a conversation (so the Reply button answers the customer):
their personal manager first, then the owners. A second press is refused with a note and
writes nothing. ``bot.services.jobs.car.new_car_interest`` then sends the trade-in offer.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import CarInterest, Customer
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.people.conversations import open_in, tell_recipients
from bot.services.people.managers import manager_of
from bot.services.people.mileage import odometer

NEW_CAR_PREFIX = "nc"  # callback data nc:<source>
SOURCES = ("card", "reminder")
ALERT = "owner.new_car_interest"
CONVERSATION_SOURCE = "tradein"


class InterestNoted(BaseModel):
    customer_id: int
    manager: str | None = personal()  # who will be in touch, when they have one


def button_on(settings: Settings) -> bool:
    return settings.tradein.enabled and settings.tradein.interest_button


def interest_keyboard(biz: Business, locale: str, source: str) -> dict[str, object]:
    """The button, as the outbox and the handlers both send it."""
    label = biz.texts.plain(biz.texts.locale_for(locale), "customer.button_new_car")
    return {"inline_keyboard": [[{"text": label, "callback_data": f"{NEW_CAR_PREFIX}:{source}"}]]}


async def interested(session: AsyncSession, customer_id: int) -> bool:
    return await session.get(CarInterest, customer_id) is not None


async def note_interest(biz: Business, key: str, tg_id: int, source: str) -> Outcome[InterestNoted]:
    """Record the interest and alert the business once; refused (nothing written) for a
    non-member, an unknown source, the button switched off, or interest noted before."""
    if source not in SOURCES or not button_on(biz.settings):
        raise ServiceError("not_available")
    now = biz.clock.now()

    async def work(session: AsyncSession) -> InterestNoted:
        customer = await session.scalar(
            select(Customer).where(
                Customer.telegram_id == tg_id,
                Customer.signup_step.is_(None),
                Customer.erased_at.is_(None),
            )
        )
        if customer is None:
            raise ServiceError("not_registered")
        if await interested(session, customer.id):
            raise ServiceError("new_car_noted_before")
        session.add(CarInterest(customer_id=customer.id, noted_at=now, source=source))
        conversation = await open_in(session, biz, customer, CONVERSATION_SOURCE, now)
        profile = customer.profile or {}
        await tell_recipients(
            session, biz, customer, conversation, ALERT, source=source,
            make=profile.get("make"), model=profile.get("model"), year=profile.get("year"),
            km=(await odometer(session, customer.id)).at(now),
        )  # fmt: skip
        manager = await manager_of(session, customer.id)
        return InterestNoted(customer_id=customer.id, manager=manager.name if manager else None)

    return await run_once(biz.db, biz.clock, key, InterestNoted, work)

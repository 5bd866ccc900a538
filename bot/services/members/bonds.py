"""What a member's /card shows beyond the points: the social and structural bonds of the
sources' retention levels (seed 002: «2 Финансовая и социальная (персональный менеджер
...)»; «3 Финансовая, социальная структурная (в т.ч. технико-функциональные связи)»).

- their personal manager (``people.managers``), by name;
- a car service's structural bond: the customer's own service history and, per
  ``reminders.rules`` entry, the last service with the estimated mileage then and the next
  one due (``km`` further on, or ``days`` later: the reminder comes at whichever is first),
  «ваша машина: масло — 85 000 км, следующее ≈ 95 000 км»;
- the "thinking about a new car?" button (``jobs.car_interest``) until they pressed it.

The car parts only for a customer with a car: an answer to the sign-up's car questions or
an odometer reading (a café's customers see none of it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, Purchase, Visit
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import personal
from bot.services.jobs.car_interest import button_on, interested
from bot.services.money.live_purchases import IS_LIVE
from bot.services.people.managers import manager_of
from bot.services.people.mileage import odometer

HISTORY = 5  # the newest services listed
CAR_FIELDS = ("make", "model", "year")  # the sign-up's car questions (kind "car_service")


class ServiceDone(BaseModel):
    at: datetime
    tag: str
    km: int | None  # estimated from the readings; None without any


class NextService(BaseModel):
    tag: str
    last: ServiceDone
    next_km: int | None
    next_at: datetime | None


class CardBonds(BaseModel):
    manager: str | None = personal()
    car: str | None = None  # make, model and year from the profile
    km_now: int | None = None
    due: list[NextService] = []
    history: list[ServiceDone] = []
    new_car_button: bool = False

    @property
    def empty(self) -> bool:
        return not (self.manager or self.due or self.history or self.new_car_button)


async def card_bonds(biz: Business, tg_id: int) -> CardBonds:
    """The member's bonds for /card (refused for someone who is not a member)."""
    now = biz.clock.now()
    async with biz.db.read() as session:
        customer = await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))
        if customer is None or customer.signup_step is not None:
            raise ServiceError("not_registered")
        manager = await manager_of(session, customer.id)
        car = await odometer(session, customer.id)
        services = await _services(session, customer.id)
        button = button_on(biz.settings) and not await interested(session, customer.id)
    profile = customer.profile or {}
    label = " ".join(str(profile[k]) for k in CAR_FIELDS if profile.get(k))
    if not (label or car.known):  # no car to speak of: the manager at most
        return CardBonds(manager=manager.name if manager else None)
    history = [ServiceDone(at=at, tag=tag, km=car.at(at)) for at, tag in services]
    return CardBonds(
        manager=manager.name if manager else None,
        car=label or None,
        km_now=car.at(now),
        due=_due(biz, history),
        history=history[:HISTORY],
        new_car_button=button,
    )


async def _services(session: AsyncSession, customer_id: int) -> list[tuple[datetime, str]]:
    """(when, tag) of the customer's live purchases and visits with a tag, newest first."""
    bought = await session.execute(
        select(Purchase.created_at, Purchase.service_tag).where(
            Purchase.customer_id == customer_id, Purchase.service_tag.is_not(None), IS_LIVE
        )
    )
    visited = await session.execute(
        select(Visit.created_at, Visit.service_tag).where(
            Visit.customer_id == customer_id, Visit.service_tag.is_not(None)
        )
    )
    rows = [(at, str(tag)) for at, tag in [*bought.all(), *visited.all()]]
    return sorted(rows, key=lambda row: row[0], reverse=True)


def _due(biz: Business, history: list[ServiceDone]) -> list[NextService]:
    """Per reminder rule, its newest service and the next one: ``km`` after the mileage
    then, ``days`` after the day (as ``job_selection.reminder_candidates`` reminds)."""
    found = []
    for rule in biz.settings.reminders.rules:
        last = next((s for s in history if s.tag.casefold() == rule.tag.casefold()), None)
        if last is None:
            continue
        found.append(
            NextService(
                tag=rule.tag,
                last=last,
                next_km=last.km + rule.km if rule.km and last.km is not None else None,
                next_at=last.at + timedelta(days=rule.days) if rule.days else None,
            )
        )
    return found

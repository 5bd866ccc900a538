"""The treatment table applied: what a customer's strategy and value let a job or a
broadcast give them (config ``[treatment]``, ``bot.config.jobs.TreatmentSettings``).

Seed 000: «Ценность клиента (низкая, средняя, высокая)» decides the service —
«Минимизировать затраты на обслуживание» / «Стандартизированное обслуживание» /
«Удерживать клиента и улучшать его обслуживание»; seed 001's strategies say whom to reward
and invest in and whom to release. Every scheduled job asks ``for_customer`` before it
writes anything (``bot.services.jobs.common.deliver_one``) and scales its gift with
``scaled``; ``loyalty-bot preview`` shows the same; the broadcast wizard's ``treatment``
filter keeps the customers the table lets broadcasts reach (``broadcast_condition``).
A customer not scored yet is in the ``none`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.config import OfferSpec, Settings
from bot.config.jobs import MAX_OFFER_PERCENT, STRATEGY_ROWS
from bot.db.models import Customer, CustomerScore


@dataclass(frozen=True)
class Treatment:
    """One customer's cell: their labels, whether ``job`` may reach them, the gift scale."""

    strategy: str | None
    value: str | None
    job: str
    allowed: bool
    gift_percent: int


REMINDER_PREFIX = "reminder:"  # the reminders' campaigns, one per service tag


def reach_key(job: str) -> str:
    """The treatment table's name of a job campaign (``reminder:<tag>`` -> reminders)."""
    return "reminders" if job.startswith(REMINDER_PREFIX) else job


def cell(settings: Settings, strategy: str | None, value: str | None, job: str) -> Treatment:
    table = settings.treatment
    row = table.row(strategy)
    return Treatment(strategy, value, job, job in row.reach, table.gift_percent(strategy, value))


async def for_customer(
    session: AsyncSession, settings: Settings, customer_id: int, job: str
) -> Treatment:
    """The customer's cell from the last reclassification (``customer_scores``)."""
    labels = (
        await session.execute(
            select(CustomerScore.strategy, CustomerScore.value).where(
                CustomerScore.customer_id == customer_id
            )
        )
    ).first()
    strategy, value = (labels[0], labels[1]) if labels is not None else (None, None)
    return cell(settings, strategy, value, job)


def scaled_points(points: int, treatment: Treatment) -> int:
    return points * treatment.gift_percent // 100


def scaled_offer(spec: OfferSpec | None, treatment: Treatment) -> OfferSpec | None:
    """The offer at the cell's percent (whole points, cents, a percent capped at the
    maximum); None when nothing is left (e.g. released customers: greetings only)."""
    if spec is None or treatment.gift_percent == 100:
        return spec
    step = Decimal("1") if spec.kind == "points" else Decimal("0.01")
    value = (spec.value * treatment.gift_percent / 100).quantize(step, rounding=ROUND_DOWN)
    if spec.kind == "percent":
        value = min(value, Decimal(MAX_OFFER_PERCENT))
    if value <= 0:
        return None
    return spec.model_copy(update={"value": value})


def broadcast_condition(settings: Settings) -> ColumnElement[bool]:
    """Customers whose cell lets a broadcast reach them (the wizard's ``treatment`` flag);
    the unscored (and unrated) follow the ``none`` row."""
    table = settings.treatment
    allowed = [s for s in STRATEGY_ROWS if "broadcast" in table.row(s).reach]
    with_strategy = select(CustomerScore.customer_id).where(CustomerScore.strategy.in_(allowed))
    condition = Customer.id.in_(with_strategy) if allowed else false()
    if "broadcast" in table.none.reach:
        rated = select(CustomerScore.customer_id).where(CustomerScore.strategy.in_(STRATEGY_ROWS))
        condition = or_(condition, Customer.id.not_in(rated))
    return condition

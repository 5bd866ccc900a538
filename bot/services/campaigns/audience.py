"""Who a broadcast goes to: the owner's filters as one SQL condition, with a live count.

Filters are a flat JSON-able dict (the wizard keeps it in the FSM, the campaign stores it
in ``campaigns.audience``); every key narrows the audience (AND):

- ``tier``: the customer's tier code (no tier yet, or a code no longer configured, is the
  ladder's first tier, as ``tiers.tier_of`` says);
- ``segment``, ``lifecycle``, ``value``, ``strategy``: the last scoring run's labels;
- ``idle_days``: N days or more since the last visit (a live purchase or a logged visit),
  among customers who came at least once;
- ``birthday_month``: 1-12;
- ``service_tag``: bought this service at least once (a live purchase);
- ``profile.<field>``: a profile answer, compared case-insensitively (make = LADA);
- ``opt_in``: marketing opt-in only; ``reachable``: who has not blocked the bot;
  ``treatment``: only customers the treatment table lets broadcasts reach
  (``bot.services.campaigns.treatment``: e.g. not the released, by default).

The base audience is every member of the bot (a chat, not erased): a broadcast can reach
nobody else.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, exists, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

import scoring
from bot.config import Settings
from bot.db.models import Customer, CustomerScore, Purchase, Visit
from bot.services.campaigns.treatment import broadcast_condition
from bot.services.context import Business
from bot.services.money.live_purchases import IS_LIVE
from bot.services.money.tiers import ladder

Filters = dict[str, Any]

SCORE_DIMENSIONS = ("segment", "lifecycle", "value", "strategy")
PROFILE_PREFIX = "profile."
FLAGS = ("opt_in", "reachable", "treatment")
IDLE_DAYS_CHOICES = (30, 60, 90, 180, 365)
MONTHS = tuple(range(1, 13))
MAX_PROFILE_CHOICES = 24  # the most common answers offered as buttons
MAX_VALUE_LENGTH = 64
NOT_RATED = "none"  # the strategy (and service) of a customer the value table did not rate
# The dimensions the wizard offers, in its order (profile fields follow, one per field).
DIMENSIONS = ("tier", *SCORE_DIMENSIONS, "idle_days", "birthday_month", "service_tag")


@cache
def score_values() -> dict[str, frozenset[str]]:
    """The values the scoring job stores per dimension (customer_scores); read on first use,
    so that the bot's start does not load the models that name them."""
    return {
        "segment": frozenset(rule.name for rule in scoring.DEFAULT_SEGMENT_RULES)
        | {scoring.NO_PURCHASES},
        "lifecycle": frozenset(scoring.STAGE_NAMES),
        "value": frozenset(scoring.VALUE_LEVELS),
        "strategy": frozenset(scoring.STRATEGIES) | {NOT_RATED},
    }


class AudienceError(ValueError):
    """A filter that is not one (unknown key, value of the wrong kind): nothing is counted."""


def dimensions(settings: Settings) -> tuple[str, ...]:
    return DIMENSIONS + tuple(PROFILE_PREFIX + f.code for f in settings.profile.fields)


def validate(settings: Settings, filters: Filters) -> Filters:
    """The filters checked against what exists; raises AudienceError on anything else."""
    clean: Filters = {}
    known = set(dimensions(settings))
    for key, value in filters.items():
        if key in FLAGS:
            if value is not True:
                raise AudienceError(f"{key} is a flag")
        elif key not in known:
            raise AudienceError(f"unknown filter {key!r}")
        elif key == "idle_days":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650:
                raise AudienceError("idle_days must be 1-3650")
        elif key == "birthday_month":
            if value not in MONTHS or isinstance(value, bool):
                raise AudienceError("birthday_month must be 1-12")
        elif key == "tier":
            if value not in {t.code for t in ladder(settings)}:
                raise AudienceError(f"unknown tier {value!r}")
        elif key == "service_tag":
            if value not in settings.loyalty.service_tags:
                raise AudienceError(f"unknown service tag {value!r}")
        elif key in SCORE_DIMENSIONS:
            if value not in score_values()[key]:
                raise AudienceError(f"unknown {key} {value!r}")
        elif not isinstance(value, str) or not value or len(value) > MAX_VALUE_LENGTH:
            raise AudienceError(f"{key} must be a short text")
        clean[key] = value
    return clean


def _came(since: datetime | None = None) -> ColumnElement[bool]:
    """A live purchase or a logged visit (since ``since``, or ever)."""
    purchase = exists().where(Purchase.customer_id == Customer.id, IS_LIVE)
    visit = exists().where(Visit.customer_id == Customer.id)
    if since is not None:
        purchase = purchase.where(Purchase.created_at >= since)
        visit = visit.where(Visit.created_at >= since)
    return purchase | visit


def _condition(settings: Settings, key: str, value: Any, now: datetime) -> ColumnElement[bool]:
    if key == "tier":
        first = ladder(settings)[0].code
        if value != first:
            return Customer.tier == value
        others = [t.code for t in ladder(settings) if t.code != first]
        return or_(Customer.tier.is_(None), Customer.tier.not_in(others))
    if key in SCORE_DIMENSIONS:
        column = getattr(CustomerScore, key)
        return Customer.id.in_(select(CustomerScore.customer_id).where(column == value))
    if key == "idle_days":
        return _came() & ~_came(now - timedelta(days=value))
    if key == "birthday_month":
        return extract("month", Customer.birthday) == value
    if key == "service_tag":
        return exists().where(
            Purchase.customer_id == Customer.id, IS_LIVE, Purchase.service_tag == value
        )
    if key == "opt_in":
        return Customer.marketing_opt_in.is_(True)
    if key == "treatment":
        return broadcast_condition(settings)
    if key == "reachable":
        return Customer.unreachable_at.is_(None)
    field = key[len(PROFILE_PREFIX) :]
    return func.lower(Customer.profile[field].as_string()) == value.casefold()


def members() -> Select[tuple[Customer]]:
    """The base audience: customers in the bot (a chat), not erased."""
    return select(Customer).where(Customer.telegram_id.is_not(None), Customer.erased_at.is_(None))


def query(settings: Settings, filters: Filters, now: datetime) -> Select[tuple[Customer]]:
    """Customers matching every filter, in id order."""
    statement = members()
    for key, value in validate(settings, filters).items():
        statement = statement.where(_condition(settings, key, value, now))
    return statement.order_by(Customer.id)


async def count(biz: Business, filters: Filters) -> int:
    statement = query(biz.settings, filters, biz.clock.now())
    async with biz.db.read() as session:
        total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    return int(total or 0)


async def customers(session: AsyncSession, biz: Business, filters: Filters) -> list[Any]:
    """The audience as plain rows: every column of ``customers`` as an attribute, like a
    Customer, without the ORM's identity bookkeeping (a broadcast reads 10,000 of them;
    nothing here is modified)."""
    statement = query(biz.settings, filters, biz.clock.now())
    rows = await session.execute(statement.with_only_columns(*Customer.__table__.columns))
    return list(rows.all())


async def choices(biz: Business, dimension: str) -> list[Any]:
    """The values the wizard offers as buttons for ``dimension``: configured ones (tiers,
    service tags, a choice field's choices), else those present in the data."""
    settings = biz.settings
    if dimension == "tier":
        return [t.code for t in ladder(settings)]
    if dimension == "idle_days":
        return list(IDLE_DAYS_CHOICES)
    if dimension == "birthday_month":
        return list(MONTHS)
    if dimension == "service_tag":
        return list(settings.loyalty.service_tags)
    if dimension in SCORE_DIMENSIONS:
        column = getattr(CustomerScore, dimension)
        async with biz.db.read() as session:
            rows = await session.scalars(select(column).distinct().order_by(column))
            return list(rows)
    if dimension.startswith(PROFILE_PREFIX):
        code = dimension[len(PROFILE_PREFIX) :]
        field = next((f for f in settings.profile.fields if f.code == code), None)
        if field is None:
            raise AudienceError(f"unknown profile field {code!r}")
        if field.choices:
            return list(field.choices)
        async with biz.db.read() as session:
            rows = await session.scalars(
                members().with_only_columns(Customer.profile[code].as_string())
            )
            answers = Counter(str(v).strip() for v in rows if v is not None and str(v).strip())
        seen: dict[str, str] = {}
        for answer, _ in answers.most_common():
            seen.setdefault(answer.casefold(), answer[:MAX_VALUE_LENGTH])
        return list(seen.values())[:MAX_PROFILE_CHOICES]
    raise AudienceError(f"unknown filter {dimension!r}")

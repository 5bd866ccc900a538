"""Tiers (SPEC.md, Tiers and bonuses; seed 002's categories; Berry in seed 003: a better
price for the best customers).

A customer holds one tier of the configured ladder (``customers.tier``; None = the first).
What they qualify for is computed from the rolling window (retail: spend or number of
purchases and visits; b2b: the rating-scale points the scoring job stored). Promotion is
immediate and announced with the new perks; demotion waits ``tiers.grace_days`` after the
customer was first seen below their tier (``customers.below_tier_since``), so nobody flaps.
A tier held is kept at its keep thresholds (``keep_*``, the entry ones when unset); a tier
not held is entered, or re-entered after losing it, only at its entry thresholds (``min_*``).
Rechecked after every purchase, visit and refund and by a daily job; a recheck is
state-based, so running it twice (a restart) changes and announces nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, bindparam, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement, Label

from bot.config import Settings, Tier
from bot.config.programme import KEEPS
from bot.db.models import Customer, CustomerScore, OutboxMessage, Purchase, Visit
from bot.money import CENT, from_minor
from bot.services.context import Business
from bot.services.money.live_purchases import IS_LIVE, NET_MINOR
from bot.services.outbox.notify import customer_notice
from scoring.calendar import add_months

JOB_BATCH = 200


def ladder(settings: Settings) -> tuple[Tier, ...]:
    return settings.tiers.ladder


def tier_of(settings: Settings, code: str | None) -> Tier:
    """The tier with ``code``; None or a code no longer configured means the first tier."""
    for tier in ladder(settings):
        if tier.code == code:
            return tier
    return ladder(settings)[0]


def earn_percent(settings: Settings, code: str | None) -> Decimal:
    tier = tier_of(settings, code)
    return tier.earn_percent if tier.earn_percent is not None else settings.loyalty.earn_percent


@dataclass(frozen=True)
class Standing:
    """What counts towards a tier over the rolling window."""

    spend: Decimal
    visits: int
    rating: int | None


def threshold(tier: Tier, attr: str, keep: bool = False) -> Any:
    """``min_<attr>`` (entry) or, ``keep``, ``keep_<attr>`` when set (else the entry one)."""
    kept = getattr(tier, f"keep_{attr}") if keep else None
    return kept if kept is not None else getattr(tier, f"min_{attr}")


def meets(tier: Tier, standing: Standing, keep: bool = False) -> bool:
    """Whether ``standing`` reaches ``tier``: its entry thresholds, or (``keep``, for a tier
    already held) its keep thresholds."""
    if tier.min_rating is not None:
        rating = threshold(tier, "rating", keep)
        return standing.rating is not None and standing.rating >= rating
    spend, visits = threshold(tier, "spend", keep), threshold(tier, "visits", keep)
    return (spend is not None and standing.spend >= spend) or (
        visits is not None and standing.visits >= visits
    )


def kept_at(settings: Settings, held_at: int, target_at: int, standing: Standing) -> int:
    """Below the held tier's entry threshold: the highest tier from the held one down that
    the standing keeps (keep thresholds hold for the tier held and those under it, entry
    thresholds for those above: a tier lost is re-entered only at its entry threshold)."""
    levels = ladder(settings)
    for at in range(held_at, target_at, -1):
        if meets(levels[at], standing, keep=True):
            return at
    return target_at


def keep_missing(tier: Tier, standing: Standing) -> dict[str, Any]:
    """What the standing lacks to keep ``tier`` (its keep thresholds): spend, visits or
    rating, each None when the tier asks nothing of it; empty when it is kept."""
    if meets(tier, standing, keep=True):
        return {}
    spend, visits, rating = (threshold(tier, a, keep=True) for a in KEEPS)
    return {
        "keep_spend_missing": None if spend is None else max(spend - standing.spend, CENT),
        "keep_visits_missing": None if visits is None else max(visits - standing.visits, 1),
        "keep_rating_missing": None if rating is None else max(rating - (standing.rating or 0), 1),
    }


def qualified(settings: Settings, standing: Standing) -> Tier:
    """The highest tier whose condition the standing meets (the first tier needs nothing)."""
    levels = ladder(settings)
    best = levels[0]
    for tier in levels[1:]:
        if meets(tier, standing):
            best = tier
    return best


def standing_columns(
    settings: Settings, customer_id: ColumnElement[int] = Customer.id
) -> tuple[Label[Any], ...]:
    """What counts towards a tier, as three scalar subqueries correlated to ``customers.id``
    (bind parameter ``since``: the window's start): live net spend in minor units, live
    purchases, visits, and the stored rating (None unless the b2b rating scale is on).
    Selected with the customer's own row, so the standing costs no statement of its own;
    ``customer_id`` is what they correlate to (``customers.id`` by default)."""
    net_minor = (
        select(func.coalesce(func.sum(NET_MINOR), 0))
        .where(
            Purchase.customer_id == customer_id, Purchase.created_at >= bindparam("since"), IS_LIVE
        )
        .scalar_subquery()
    )
    purchases = (
        select(func.count(Purchase.id))
        .where(
            Purchase.customer_id == customer_id, Purchase.created_at >= bindparam("since"), IS_LIVE
        )
        .scalar_subquery()
    )
    visits = (
        select(func.count(Visit.id))
        .where(Visit.customer_id == customer_id, Visit.created_at >= bindparam("since"))
        .scalar_subquery()
    )
    rating = (
        select(CustomerScore.rating_points)
        .where(CustomerScore.customer_id == customer_id)
        .scalar_subquery()
        if settings.tiers.preset == "b2b"
        else select(null()).scalar_subquery()
    )
    return (
        net_minor.label("standing_net_minor"),
        purchases.label("standing_purchases"),
        visits.label("standing_visits"),
        rating.label("standing_rating"),
    )


def window_start(settings: Settings, now: datetime) -> datetime:
    """The ``since`` parameter of ``standing_columns``: the rolling window's first moment."""
    return add_months(now, -settings.tiers.window_months)


def standing_of(row: Any) -> Standing:
    """The ``Standing`` from a row that selected ``standing_columns``."""
    return Standing(
        spend=from_minor(int(row.standing_net_minor)),
        visits=int(row.standing_purchases) + int(row.standing_visits),
        rating=row.standing_rating,
    )


def with_new_purchase(before: Standing, amount: Decimal) -> Standing:
    """The standing once a purchase of ``amount``, booked now, is counted: a new purchase
    is live (nothing refunded) and inside the window (created now), so it adds its amount
    to the spend and one to the visits (what ``standing`` would read after the insert)."""
    return Standing(spend=before.spend + amount, visits=before.visits + 1, rating=before.rating)


_STANDING_CACHE: dict[str | None, Select[Any]] = {}


def standing_statement(settings: Settings) -> Select[Any]:
    """``standing_columns`` of one customer (bind ``customer_id`` and ``since``)."""
    stmt = _STANDING_CACHE.get(settings.tiers.preset)
    if stmt is None:
        stmt = _STANDING_CACHE[settings.tiers.preset] = select(*standing_columns(settings)).where(
            Customer.id == bindparam("customer_id")
        )
    return stmt


def standing_params(settings: Settings, customer_id: int, now: datetime) -> dict[str, Any]:
    return {"customer_id": customer_id, "since": window_start(settings, now)}


async def standing(
    session: AsyncSession, settings: Settings, customer_id: int, now: datetime
) -> Standing:
    """One statement: the customer's row with ``standing_columns``."""
    row = await session.execute(
        standing_statement(settings), standing_params(settings, customer_id, now)
    )
    return standing_of(row.one())


class TierChange(BaseModel):
    customer_id: int
    old: str
    new: str
    promoted: bool


def _perks(tier: Tier, locale: str) -> list[str]:
    return list(tier.perks_in(locale))


def retier(
    biz: Business, customer: Any, now_standing: Standing, now: datetime
) -> tuple[TierChange | None, dict[str, Any] | None]:
    """Apply promotion (at once) or demotion (after the grace period) to ``customer`` (an
    ORM ``Customer`` or an ``Account``) given its standing; the change and the outbox row
    telling the customer, if any."""
    settings = biz.settings
    levels = ladder(settings)
    held = tier_of(settings, customer.tier)
    target = qualified(settings, now_standing)
    held_at, target_at = levels.index(held), levels.index(target)
    if target_at < held_at:  # below the entry threshold: the keep thresholds decide
        target_at = kept_at(settings, held_at, target_at, now_standing)
        target = levels[target_at]
    if target_at == held_at:
        customer.below_tier_since = None
        return None, None
    if target_at < held_at:
        grace = timedelta(days=settings.tiers.grace_days)
        if customer.below_tier_since is None:
            customer.below_tier_since = now
        if now - customer.below_tier_since < grace:
            return None, None
    customer.tier = target.code
    customer.tier_since = now
    customer.below_tier_since = None
    promoted = target_at > held_at
    lang = customer.language
    notice = customer_notice(
        biz,
        customer,
        "customer.tier_promoted" if promoted else "customer.tier_demoted",
        tier=target.name(lang),
        perks=_perks(target, lang),
        earn_percent=earn_percent(settings, target.code),
    )
    change = TierChange(customer_id=customer.id, old=held.code, new=target.code, promoted=promoted)
    return change, notice


async def recheck(
    session: AsyncSession, biz: Business, customer: Customer, now: datetime
) -> TierChange | None:
    """Apply promotion (at once) or demotion (after the grace period); tell the customer."""
    change, notice = retier(
        biz, customer, await standing(session, biz.settings, customer.id, now), now
    )
    if notice is not None:
        session.add(OutboxMessage(**notice))
    return change


class TierProgress(BaseModel):
    """The customer's tier and what the next one takes, in their words."""

    tier: str
    perks: list[str]
    earn_percent: Decimal
    next_tier: str | None = None
    spend_missing: Decimal | None = None
    visits_missing: int | None = None
    rating_missing: int | None = None
    grace_until: datetime | None = None
    # Below the held tier's keep threshold (in grace): what keeps it (``keep_missing``).
    keep_spend_missing: Decimal | None = None
    keep_visits_missing: int | None = None
    keep_rating_missing: int | None = None


async def progress(
    session: AsyncSession, settings: Settings, customer: Customer, now: datetime
) -> TierProgress:
    levels = ladder(settings)
    held = tier_of(settings, customer.tier)
    lang = customer.language
    result = TierProgress(
        tier=held.name(lang),
        perks=_perks(held, lang),
        earn_percent=earn_percent(settings, held.code),
    )
    now_standing = await standing(session, settings, customer.id, now)
    if customer.below_tier_since is not None:
        result.grace_until = customer.below_tier_since + timedelta(days=settings.tiers.grace_days)
        for name, value in keep_missing(held, now_standing).items():
            setattr(result, name, value)
    at = levels.index(held)
    if at + 1 >= len(levels):
        return result
    nxt = levels[at + 1]
    result.next_tier = nxt.name(lang)
    if nxt.min_spend is not None:
        result.spend_missing = max(nxt.min_spend - now_standing.spend, CENT)
    if nxt.min_visits is not None:
        result.visits_missing = max(nxt.min_visits - now_standing.visits, 1)
    if nxt.min_rating is not None:
        result.rating_missing = max(nxt.min_rating - (now_standing.rating or 0), 1)
    return result


def _keep_view(tier: Tier) -> dict[str, object] | None:
    """The tier's keep thresholds in force (entry ones where no keep is set), or None when
    it sets none (keeping it takes what entering it took)."""
    if all(getattr(tier, f"keep_{a}") is None for a in KEEPS):
        return None
    return {a: threshold(tier, a, keep=True) for a in KEEPS}


def ladder_view(settings: Settings, locale: str) -> list[dict[str, object]]:
    """Every tier as the intro and /offers show it: name, perks, earn rate, what it takes."""
    return [
        {
            "name": tier.name(locale),
            "perks": _perks(tier, locale),
            "earn_percent": earn_percent(settings, tier.code),
            "min_spend": tier.min_spend,
            "min_visits": tier.min_visits,
            "min_rating": tier.min_rating,
            "months": settings.tiers.window_months,
            "keep": _keep_view(tier),
        }
        for tier in ladder(settings)
    ]


async def run_daily(biz: Business) -> dict[str, int]:
    """Recheck every member's tier (demotions after grace happen here)."""
    now = biz.clock.now()
    async with biz.db.read() as session:
        ids = list(
            await session.scalars(
                select(Customer.id).where(Customer.erased_at.is_(None)).order_by(Customer.id)
            )
        )
    changed = 0
    for start in range(0, len(ids), JOB_BATCH):
        async with biz.db.write() as session:
            rows = await session.scalars(
                select(Customer)
                .where(Customer.id.in_(ids[start : start + JOB_BATCH]))
                .with_for_update()
            )
            for customer in rows:
                if await recheck(session, biz, customer, now) is not None:
                    changed += 1
    return {"customers": len(ids), "changed": changed}

"""What the programme gave each customer: the one definition (``scoring.profit`` prices it).

Seed 003: "прямые затраты производства услуг, включая затраты на отношения с покупателем,
вычитаются из дохода". Two parts, each summed per customer in SQL:

- ``GIVEN_POINTS``: ledger points given and not taken back — every entry except
  redemptions (they spend points already counted when given) and reversals that give spent
  points back (positive reversals); so earn, bonus, adjustments and opening balances count,
  expiry and negative reversals (a refund taking points back) reduce;
- ``OFFER_DISCOUNT``: money taken off purchases by used percent and fixed offers.

``since`` (a timestamp) limits both to a window, e.g. the trailing 12 months.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, func, not_, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import LedgerEntry, LedgerKind, Offer

GIVEN_POINTS: ColumnElement[bool] = not_(
    or_(
        LedgerEntry.kind == LedgerKind.REDEEM.value,
        and_(LedgerEntry.kind == LedgerKind.REVERSAL.value, LedgerEntry.points > 0),
    )
)
OFFER_DISCOUNT_MINOR: ColumnElement[int] = type_coerce(Offer.discount, BigInteger)
OFFER_USED: ColumnElement[bool] = Offer.used_at.is_not(None) & Offer.discount.is_not(None)


def given_points_sum(since: ColumnElement[bool] | None = None) -> ColumnElement[int]:
    """SUM of the points given (optionally only where ``since`` holds), never NULL."""
    counted = GIVEN_POINTS if since is None else GIVEN_POINTS & since
    return cast(
        func.coalesce(func.sum(func.coalesce(_when(counted, LedgerEntry.points), 0)), 0),
        BigInteger,
    )


def discount_sum(since: ColumnElement[bool] | None = None) -> ColumnElement[int]:
    """SUM of offer discounts in minor units (optionally only where ``since`` holds)."""
    value = OFFER_DISCOUNT_MINOR if since is None else _when(since, OFFER_DISCOUNT_MINOR)
    return cast(func.coalesce(func.sum(func.coalesce(value, 0)), 0), BigInteger)


def _when(condition: ColumnElement[bool], value: Any) -> ColumnElement[Any]:
    return case((condition, value), else_=None)


def points_statement(ts: ColumnElement[int], since_ts: int) -> Select[Any]:
    """Per customer: points given all time and since ``since_ts`` (``ts``: the entry's
    Unix seconds as a SQL expression)."""
    return (
        select(
            LedgerEntry.customer_id,
            given_points_sum(),
            given_points_sum(ts >= since_ts),
        )
        .group_by(LedgerEntry.customer_id)
        .order_by(LedgerEntry.customer_id)
    )


def discounts_statement(ts: ColumnElement[int], since_ts: int) -> Select[Any]:
    """Per customer: offer discounts (minor units) all time and since ``since_ts``."""
    return (
        select(Offer.customer_id, discount_sum(), discount_sum(ts >= since_ts))
        .where(OFFER_USED)
        .group_by(Offer.customer_id)
        .order_by(Offer.customer_id)
    )


async def given_to(
    session: AsyncSession, customer_id: int, since: datetime
) -> tuple[int, int, int, int]:
    """One customer's (points all time, points since, discount minor all time, since)."""
    points = (
        await session.execute(
            select(given_points_sum(), given_points_sum(LedgerEntry.created_at >= since)).where(
                LedgerEntry.customer_id == customer_id
            )
        )
    ).one()
    discounts = (
        await session.execute(
            select(discount_sum(), discount_sum(Offer.used_at >= since)).where(
                Offer.customer_id == customer_id, OFFER_USED
            )
        )
    ).one()
    return int(points[0]), int(points[1]), int(discounts[0]), int(discounts[1])

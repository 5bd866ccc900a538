"""A live purchase: one not fully refunded, counted at its net amount.

SPEC.md (Rules that need one answer): tiers, visits, KPIs, scoring, referrals and the
client card all count live purchases. This module is the one definition; every query
that counts or sums purchases filters with ``IS_LIVE`` and sums ``NET_MINOR`` (or
``NET_AMOUNT``), and Python code holding a ``Purchase`` asks ``is_live``/``net_amount``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import Money, Purchase


def net_minor_of(purchases: Any) -> ColumnElement[int]:
    """Net amount in raw minor units of ``purchases`` (the table or an alias of it)."""
    return type_coerce(purchases.amount, BigInteger) - type_coerce(
        purchases.refunded_amount, BigInteger
    )


def is_live_of(purchases: Any) -> ColumnElement[bool]:
    """The live-purchase condition on ``purchases`` (the table or an alias of it)."""
    return type_coerce(purchases.refunded_amount, BigInteger) < type_coerce(
        purchases.amount, BigInteger
    )


# Money as raw minor units, so sums stay integers and skip Decimal conversion.
NET_MINOR = net_minor_of(Purchase)
# The same difference in the Money type (Decimal in Python) for single-row reads.
NET_AMOUNT = type_coerce(NET_MINOR, Money())
IS_LIVE = is_live_of(Purchase)


def net_amount(purchase: Purchase) -> Decimal:
    return purchase.amount - purchase.refunded_amount


def is_live(purchase: Purchase) -> bool:
    return net_amount(purchase) > 0

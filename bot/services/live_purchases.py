"""A live purchase: one not fully refunded, counted at its net amount.

SPEC.md (Rules that need one answer): tiers, visits, KPIs, scoring, referrals and the
client card all count live purchases. This module is the one definition; every query
that counts or sums purchases filters with ``IS_LIVE`` and sums ``NET_MINOR`` (or
``NET_AMOUNT``), and Python code holding a ``Purchase`` asks ``is_live``/``net_amount``.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, type_coerce

from bot.db.models import Money, Purchase

# Money columns as raw minor units, so sums stay integers and skip Decimal conversion.
AMOUNT_MINOR = type_coerce(Purchase.amount, BigInteger)
REFUNDED_MINOR = type_coerce(Purchase.refunded_amount, BigInteger)
NET_MINOR = AMOUNT_MINOR - REFUNDED_MINOR
# The same difference in the Money type (Decimal in Python) for single-row reads.
NET_AMOUNT = type_coerce(NET_MINOR, Money())
IS_LIVE = REFUNDED_MINOR < AMOUNT_MINOR


def net_amount(purchase: Purchase) -> Decimal:
    return purchase.amount - purchase.refunded_amount


def is_live(purchase: Purchase) -> bool:
    return net_amount(purchase) > 0

"""Referrals: ``/start ref_<card code>`` records who invited a new customer; both sides get
the configured points on the new customer's first purchase, once (SPEC.md, Rules that
need one answer). The reward is written in the purchase's own transaction, with keys
derived from the purchase's update key, so a re-delivered purchase rewards nobody twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, LedgerKind
from bot.services.context import Business
from bot.services.ledger import lock_customer, post
from bot.services.notify import notify_customer

REFERRAL_PREFIX = "ref_"


async def reward_first_purchase(
    session: AsyncSession, biz: Business, customer: Customer, key: str, now: datetime
) -> bool:
    """Credit both sides if ``customer`` was referred and is not rewarded yet."""
    if customer.referred_by is None or customer.referral_rewarded_at is not None:
        return False
    customer.referral_rewarded_at = now
    settings = biz.settings.referral
    referrer = await lock_customer(session, customer.referred_by)
    if settings.referred_points:
        post(
            session,
            customer,
            kind=LedgerKind.BONUS,
            points=settings.referred_points,
            key=f"{key}:referred",
            now=now,
            author_tg_id=None,
            reason="referral",
        )
        notify_customer(
            session,
            biz,
            customer,
            "customer.referral_bonus_new",
            points=settings.referred_points,
            balance=customer.balance,
        )
    if settings.referrer_points and referrer.erased_at is None:
        post(
            session,
            referrer,
            kind=LedgerKind.BONUS,
            points=settings.referrer_points,
            key=f"{key}:referrer",
            now=now,
            author_tg_id=None,
            reason="referral",
        )
        notify_customer(
            session,
            biz,
            referrer,
            "customer.referral_bonus_referrer",
            points=settings.referrer_points,
            balance=referrer.balance,
        )
    return True

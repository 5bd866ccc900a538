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


async def reward_first_purchase(
    session: AsyncSession, biz: Business, customer: Customer, key: str, now: datetime
) -> bool:
    """Credit both sides if ``customer`` was referred and is not rewarded yet."""
    if customer.referred_by is None or customer.referral_rewarded_at is not None:
        return False
    customer.referral_rewarded_at = now
    settings = biz.settings.referral
    referrer = await lock_customer(session, customer.referred_by)
    # Both sides of a referral, as a table: who, how many points, key suffix, message.
    rewards = (
        (customer, settings.referred_points, "referred", "customer.referral_bonus_new"),
        (
            referrer,
            settings.referrer_points if referrer.erased_at is None else 0,
            "referrer",
            "customer.referral_bonus_referrer",
        ),
    )
    for who, points, side, message in rewards:
        if not points:
            continue
        post(
            session,
            who,
            kind=LedgerKind.BONUS,
            points=points,
            key=f"{key}:{side}",
            now=now,
            author_tg_id=None,
            reason="referral",
        )
        notify_customer(session, biz, who, message, points=points, balance=who.balance)
    return True

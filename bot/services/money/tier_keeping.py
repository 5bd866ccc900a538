"""Tiers that keep: a customer below their tier's keep threshold is told, before the
grace period ends, what it takes to keep the tier.

``tiers.retier`` decides (keep thresholds for the tier held, entry thresholds for a tier
to enter or re-enter; demotion after ``tiers.grace_days``). This daily job finds the
customers whose grace ends within ``tiers.keep_notice_days`` and tells each once per
grace period: the claim ``tier-keep:<customer>:<grace start>`` is written in
``processed_updates`` in the same transaction as the outbox row, so a rerun (a restart)
tells nobody twice, and a customer who falls below again later is told again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.db.models import Customer, ProcessedUpdate
from bot.services.context import Business
from bot.services.money.ledger import lock_customer
from bot.services.money.tiers import keep_missing, standing, tier_of
from bot.services.outbox.contact import ContactVerdict, queue_for

KEEP_NOTICE_KEY = "tier-keep:"
KIND = "tier_keep"


def notice_key(customer_id: int, below_since: datetime) -> str:
    return f"{KEEP_NOTICE_KEY}{customer_id}:{below_since:%Y%m%dT%H%M%S}"


async def run_daily(biz: Business) -> dict[str, int]:
    """Tell every customer whose grace period ends within the notice days what keeps
    their tier; one transaction each."""
    tiers = biz.settings.tiers
    if not tiers.keep_notice_days:
        return {"customers": 0, "told": 0}
    now = biz.clock.now()
    grace = timedelta(days=tiers.grace_days)
    async with biz.db.read() as session:
        ids = list(
            await session.scalars(
                select(Customer.id)
                .where(
                    Customer.erased_at.is_(None),
                    Customer.below_tier_since > now - grace,  # not demoted yet
                    Customer.below_tier_since
                    <= now - grace + timedelta(days=tiers.keep_notice_days),
                )
                .order_by(Customer.id)
            )
        )
    told = 0
    for customer_id in ids:
        told += await _tell(biz, customer_id, now)
    return {"customers": len(ids), "told": told}


async def _tell(biz: Business, customer_id: int, now: datetime) -> int:
    """1 when the customer was told (claim and outbox row in one transaction), else 0."""
    settings = biz.settings
    async with biz.db.write() as session:
        customer = await lock_customer(session, customer_id)
        below = customer.below_tier_since
        if below is None:
            return 0  # back above the keep threshold since the job read the list
        key = notice_key(customer.id, below)
        if await session.get(ProcessedUpdate, key) is not None:
            return 0
        held = tier_of(settings, customer.tier)
        missing = keep_missing(held, await standing(session, settings, customer.id, now))
        if not missing:
            return 0  # kept: the next recheck clears the grace
        # Claimed whatever the verdict: no chat or a blocked bot is not owed it later.
        session.add(ProcessedUpdate(key=key, result={"customer_id": customer.id}, created_at=now))
        verdict = await queue_for(
            session, biz, customer, "customer.tier_keep", kind=KIND, source=None, now=now,
            tier=held.name(customer.language),
            until=below + timedelta(days=settings.tiers.grace_days), **missing,
        )  # fmt: skip
        return 1 if verdict is ContactVerdict.OK else 0

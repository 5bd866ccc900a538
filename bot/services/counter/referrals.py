"""Referrals: ``/start ref_<card code>`` records who invited a new customer; both sides get
the configured points on the new customer's first *qualifying* purchase, once (SPEC.md,
Rules that need one answer).

A purchase qualifies while it is live and its net amount reaches ``referral.min_purchase``.
A smaller purchase rewards nobody and leaves the reward for a later one. Both bonus entries
name the qualifying purchase (``LedgerEntry.purchase_id``, on the referrer's ledger too):
that is how a refund finds them. A refund that makes the purchase stop qualifying takes
both rewards back with reversal entries, each up to its owner's balance (the shortfall is
audited, as a refund's is); the reward stays used up, so a later purchase rewards nobody.

Everything is written in the purchase's (or the refund's) own transaction, with keys
derived from that update's key, so a re-delivered update rewards or reverses nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ReferralSettings
from bot.db.models import AuditEntry, Customer, LedgerEntry, LedgerKind, Purchase
from bot.services.context import Business
from bot.services.counter.books import Account, Books
from bot.services.money.ledger import lock_customer, take_back
from bot.services.money.live_purchases import is_live, net_amount
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue
from bot.services.people.audit import audit_act
from bot.services.people.roles import Actor

REWARD_REASON = "referral"
REVERSAL_REASON = "referral reversed: qualifying purchase refunded"
REVERSED_ACTION = "referral_reversed"  # audit action; one row per side, even for 0 points
REFERRED, REFERRER = "referred", "referrer"
# The message each side gets, by side: (reward, reversal).
_MESSAGES = {
    REFERRED: ("customer.referral_bonus_new", "customer.referral_reversed_new"),
    REFERRER: ("customer.referral_bonus_referrer", "customer.referral_reversed_referrer"),
}


def qualifies(purchase: Purchase, settings: ReferralSettings) -> bool:
    """Whether ``purchase`` (as it stands, refunds included) earns the referral reward."""
    return is_live(purchase) and net_amount(purchase) >= settings.min_purchase


def reward_first_purchase(books: Books, customer: Account, purchase: Purchase, key: str) -> bool:
    """Credit both sides if ``customer`` was referred, is not rewarded yet, and ``purchase``
    (already inserted, so it has an id) qualifies."""
    settings = books.biz.settings.referral
    if customer.referred_by is None or customer.referral_rewarded_at is not None:
        return False
    if not qualifies(purchase, settings):
        return False
    customer.referral_rewarded_at = books.now
    referrer = books.lock(customer.referred_by)
    rewards = (
        (customer, settings.referred_points, REFERRED),
        (referrer, settings.referrer_points if referrer.erased_at is None else 0, REFERRER),
    )
    for who, points, side in rewards:
        if not points:
            continue
        books.post(
            who,
            kind=LedgerKind.BONUS,
            points=points,
            key=f"{key}:{side}",
            author_tg_id=None,
            purchase_id=purchase.id,
            reason=REWARD_REASON,
        )
        books.queue(
            customer_notice(books.biz, who, _MESSAGES[side][0], points=points, balance=who.balance)
        )
    return True


async def reverse_on_refund(
    session: AsyncSession,
    biz: Business,
    purchase: Purchase,
    *,
    key: str,
    now: datetime,
    actor: Actor,
) -> int:
    """After a refund of ``purchase``: if it paid the referral rewards, no longer qualifies
    and they were not taken back yet, reverse both, each up to its owner's balance, and
    audit any shortfall. Decided from the state, not from this refund crossing the line,
    so an owner changing ``referral.min_purchase`` between refunds can neither reverse
    twice nor skip the reversal (the current minimum applies). Returns the points reversed
    (both sides together)."""
    referred = await session.get(Customer, purchase.customer_id)  # locked by the refund
    if referred is None or referred.referral_rewarded_at is None:
        return 0  # most refunds: no referral was ever paid for this customer
    if qualifies(purchase, biz.settings.referral):
        return 0
    if await _reversed_already(session, purchase.customer_id):
        return 0
    rows = await _rewards_paid(session, referred, purchase)
    if not rows:
        return 0  # not the purchase that paid the reward
    taken_by = {customer_id: 0 for customer_id, _ in rows}
    for customer_id, points in rows:
        side = REFERRED if customer_id == purchase.customer_id else REFERRER
        taken_by[customer_id] = await _take_reward_back(
            session, biz, customer_id, points, side, purchase, key=key, now=now, actor=actor
        )
    # One audit row per side, the referred side always (even with no points of their
    # own to take back): that row is what marks the referral as taken back.
    owed = dict(rows)
    for customer_id, side in ((referred.id, REFERRED), (referred.referred_by, REFERRER)):
        if customer_id is None:
            continue
        taken = taken_by.get(customer_id, 0)
        audit_act(
            session, actor, REVERSED_ACTION, key, now, customer_id,
            purchase_id=purchase.id, side=side, reversed=taken,
            shortfall=owed.get(customer_id, 0) - taken,
        )  # fmt: skip
    return sum(taken_by.values())


async def _reversed_already(session: AsyncSession, customer_id: int) -> bool:
    """Whether the referral was taken back: the referred side's row is written with every
    reversal."""
    found = await session.scalar(
        select(AuditEntry.id)
        .where(AuditEntry.action == REVERSED_ACTION, AuditEntry.customer_id == customer_id)
        .limit(1)
    )
    return found is not None


async def _rewards_paid(
    session: AsyncSession, referred: Customer, purchase: Purchase
) -> list[tuple[int, int]]:
    """(customer id, points) of each referral reward ``purchase`` paid, in ledger order."""
    rows = await session.execute(
        select(LedgerEntry.customer_id, LedgerEntry.points)
        .where(
            # the two sides' ledgers, through their customer index
            LedgerEntry.customer_id.in_(
                [c for c in (referred.id, referred.referred_by) if c is not None]
            ),
            LedgerEntry.purchase_id == purchase.id,
            LedgerEntry.reason == REWARD_REASON,
        )
        .order_by(LedgerEntry.id)
    )
    return [(customer_id, points) for customer_id, points in rows.all()]


async def _take_reward_back(
    session: AsyncSession,
    biz: Business,
    customer_id: int,
    points: int,
    side: str,
    purchase: Purchase,
    *,
    key: str,
    now: datetime,
    actor: Actor,
) -> int:
    """Reverse one side's reward up to its balance, tell them when points moved, and
    return the points taken."""
    who = await lock_customer(session, customer_id)
    taken = take_back(
        session, who, points, key=f"{key}:referral:{side}", now=now,
        author_tg_id=actor.tg_id, purchase_id=purchase.id, reason=REVERSAL_REASON,
    )  # fmt: skip
    if taken:
        notice = customer_notice(biz, who, _MESSAGES[side][1], points=taken, balance=who.balance)
        enqueue(session, notice)
    return taken

"""Booking a purchase: the one road every purchase takes into the books.

Earn at the tier held before the purchase (SPEC.md, Rules that need one answer) and by the
earn rules in force (``bot.services.rules.earn``: its combination order) -> the
purchase row -> the EARN entry -> the referral reward -> the tier recheck -> the
customer's notice -> the post-visit survey. Used by a staff ``/purchase`` and by a
confirmed redemption against a purchase amount (the part paid in money earns; the part
paid in points does not). The earn rule in SQL (``earn_by_tier``) makes a staff purchase's
first statement (``credit_statement``): find, lock and credit the customer at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Update, bindparam, case, literal_column, update
from sqlalchemy.sql.elements import ColumnElement

from bot.config import Settings
from bot.db.models import Customer, LedgerKind, Purchase, unix_seconds
from bot.services.counter.books import ACCOUNT_COLUMNS, Account, Books
from bot.services.counter.referrals import reward_first_purchase
from bot.services.counter.surveys import schedule as schedule_survey
from bot.services.idempotency import CLAIMED
from bot.services.money.pending import available_at as pending_until
from bot.services.money.tiers import (
    Standing,
    ladder,
    retier,
    standing_columns,
    with_new_purchase,
)
from bot.services.outbox.notify import customer_notice
from bot.services.people.customers import token_where
from bot.services.rules.earn import EarnTerms, Punch, Reward, rewards_of

EARNED_NOTICE = "customer.points_earned"


@dataclass(frozen=True)
class Booked:
    purchase_id: int
    points: int  # earned by it: the tier's percent and the rules' multipliers (one entry)
    rewards: int = 0  # the earn rules' own bonuses on it (bot.services.rules.earn)
    punch: Punch | None = None  # a punch card's "4 of 6" after it


def earn_by_tier(settings: Settings) -> ColumnElement[int]:
    """What a purchase credits, in SQL: the customer's held tier picks one of the values
    ``EarnTerms.params`` computed for every tier of the ladder (an unknown or no tier: the
    first, as ``tiers.tier_of`` reads it). Lets one statement find and credit a customer."""
    levels = ladder(settings)
    return case(
        {tier.code: bindparam(f"earn_{i}", type_=Integer) for i, tier in enumerate(levels)},
        value=Customer.tier,
        else_=bindparam("earn_0", type_=Integer),
    )


def book_purchase(
    books: Books,
    customer: Account,
    standing: Standing | None,
    *,
    key: str,
    author_tg_id: int,
    outlet_code: str,
    amount: Decimal,
    points_redeemed: int = 0,
    service_tag: str | None = None,
    receipt_no: str | None = None,
    notice: str | None = EARNED_NOTICE,
    terms: EarnTerms | None = None,
) -> Booked:
    """Book one purchase for a locked ``customer`` whose tier ``standing`` (before this
    purchase) was read with it, or None to read it with the purchase's insert (PostgreSQL:
    after the lock, see ``Database.serialises_writes``); ``notice`` None when the caller
    tells the customer itself (a redemption says what was spent and earned in one message)."""
    biz, now = books.biz, books.now
    earned = _earned(books, customer, terms, amount, points_redeemed)
    row = {
        "customer_id": customer.id,
        "author_tg_id": author_tg_id,
        "outlet_code": outlet_code,
        "amount": amount,
        "refunded_amount": Decimal("0"),
        "service_tag": service_tag,
        "receipt_no": receipt_no,
        "points_earned": earned.total,
        "points_redeemed": points_redeemed,
        "created_at": now,
        "created_ts": unix_seconds(now),
    }
    purchase_id, read = books.insert_purchase(row, with_standing=standing is None)
    if standing is None:
        standing = read
    assert standing is not None  # insert_purchase read it
    books.hold(customer)
    _post_earned(books, customer, earned, key, author_tg_id, purchase_id)
    if notice is not None:
        books.queue(customer_notice(
            biz, customer, notice, kind="purchase", amount=amount, points=earned.total,
            balance=customer.balance,
        ))  # fmt: skip
    purchase = Purchase(id=purchase_id, **row)  # transient: what the referral rule reads
    reward_first_purchase(books, customer, purchase, key)
    _change, tier_notice = retier(biz, customer, with_new_purchase(standing, amount), now)
    books.queue(tier_notice)
    schedule_survey(books, customer, purchase)  # survey hook (surveys.py)
    return Booked(purchase_id, earned.points, earned.total - earned.points, earned.punch)


@dataclass(frozen=True)
class _Earned:
    points: int  # the EARN entry
    rewards: list[Reward]  # a BONUS entry each
    punch: Punch | None

    @property
    def total(self) -> int:
        return self.points + sum(r.points for r in self.rewards)


def _earned(
    books: Books, customer: Account, terms: EarnTerms | None, amount: Decimal, redeemed: int
) -> _Earned:
    """What the purchase earns under ``terms`` (``rules.versions.earn_terms``; None: the
    tier's percent alone), in the order ``bot.services.rules.earn`` states."""
    terms = terms or EarnTerms()
    settings = books.biz.settings
    points = terms.rate_points(settings, customer.tier, amount, redeemed)
    rewards, punch = rewards_of(books.conn, settings, terms, customer.id, amount, redeemed)
    return _Earned(points, rewards, punch)


def _post_earned(
    books: Books, customer: Account, earned: _Earned, key: str, author_tg_id: int, purchase_id: int
) -> None:
    pending = pending_until(books.biz.settings, books.now)  # the return window
    if earned.points:
        books.post(
            customer, kind=LedgerKind.EARN, points=earned.points, key=f"{key}:earn",
            author_tg_id=author_tg_id, purchase_id=purchase_id, available_at=pending,
        )  # fmt: skip
    for reward in earned.rewards:
        books.post(
            customer, kind=LedgerKind.BONUS, points=reward.points, key=f"{key}:rule:{reward.rule}",
            author_tg_id=author_tg_id, purchase_id=purchase_id, reason=f"rule {reward.rule}",
            available_at=pending,
        )  # fmt: skip


def credit_statement(shape: frozenset[str], settings: Settings, with_standing: bool) -> Update:
    """The purchase's first statement: credit what the purchase earns to the customer(s)
    the token names (which locks them) and return their rows with the update's claim and,
    ``with_standing``, their tier standing. Built once per token shape and tier ladder."""
    key = (shape, settings.tiers.preset, tuple(t.code for t in ladder(settings)), with_standing)
    stmt = _CREDITS.get(key)
    if stmt is None:
        standing = standing_columns(settings, _RETURNED_ID) if with_standing else ()
        stmt = _CREDITS[key] = (
            update(Customer)
            .where(token_where(shape))
            .values(balance=Customer.balance + earn_by_tier(settings))
            .returning(*ACCOUNT_COLUMNS, CLAIMED, *standing)
        )
    return stmt


_CREDITS: dict[tuple[Any, ...], Update] = {}
# SQLAlchemy renders SQLite's RETURNING columns unqualified, subqueries included, where a
# bare "id" would name the purchase's own id: the correlation is spelled out.
_RETURNED_ID = literal_column(f"{Customer.__tablename__}.id", Integer)

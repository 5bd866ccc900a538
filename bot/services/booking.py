"""Booking a purchase: the one road every purchase takes into the books.

Earn at the tier held before the purchase (SPEC.md, Rules that need one answer) -> the
purchase row -> the EARN entry -> the referral reward -> the tier recheck -> the
customer's notice. Used by a staff ``/purchase`` and by a confirmed redemption against a
purchase amount (the part paid in money earns; the part paid in points does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.db.models import LedgerKind, Purchase
from bot.services.books import Account, Books
from bot.services.ledger import earned_points
from bot.services.referrals import reward_first_purchase
from bot.services.tiers import Standing, earn_percent, retier, with_new_purchase

EARNED_NOTICE = "customer.points_earned"


@dataclass(frozen=True)
class Booked:
    purchase_id: int
    points: int  # earned by it


async def book_purchase(
    books: Books,
    customer: Account,
    standing: Standing,
    *,
    key: str,
    author_tg_id: int,
    outlet_code: str,
    amount: Decimal,
    points_redeemed: int = 0,
    service_tag: str | None = None,
    receipt_no: str | None = None,
    notice: str | None = EARNED_NOTICE,
) -> Booked:
    """Book one purchase for a locked ``customer`` whose tier ``standing`` (before this
    purchase) was read with it; ``notice`` None when the caller tells the customer itself
    (a redemption says what was spent and earned in one message)."""
    biz, now = books.biz, books.now
    loyalty = biz.settings.loyalty
    rate = earn_percent(biz.settings, customer.tier)  # the tier held before the purchase
    paid = max(amount - loyalty.point_value * points_redeemed, Decimal("0"))
    points = earned_points(paid, loyalty, rate)
    row = {
        "customer_id": customer.id,
        "author_tg_id": author_tg_id,
        "outlet_code": outlet_code,
        "amount": amount,
        "refunded_amount": Decimal("0"),
        "service_tag": service_tag,
        "receipt_no": receipt_no,
        "points_earned": points,
        "points_redeemed": points_redeemed,
        "created_at": now,
    }
    purchase_id = await books.insert_purchase(row)
    books.hold(customer)
    if points:
        books.post(
            customer,
            kind=LedgerKind.EARN,
            points=points,
            key=f"{key}:earn",
            author_tg_id=author_tg_id,
            purchase_id=purchase_id,
        )
    if notice is not None:
        books.notify(customer, notice, amount=amount, points=points, balance=customer.balance)
    purchase = Purchase(id=purchase_id, **row)  # transient: what the referral rule reads
    await reward_first_purchase(books, customer, purchase, key)
    _change, tier_notice = retier(biz, customer, with_new_purchase(standing, amount), now)
    books.queue(tier_notice)
    return Booked(purchase_id, points)

"""Customers and purchases written straight to the database, for tests of aggregates."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from bot.codes import new_card_code
from bot.db.engine import Database
from bot.db.models import Customer, Purchase


async def add_customer(
    db: Database,
    now: datetime,
    name: str,
    *,
    purchases: list[tuple[float, str]] = (),  # type: ignore[assignment]
    refunded: bool = False,
    payment_terms: str = "on_time",
    joined_days_ago: float = 800,
) -> int:
    """A customer with purchases given as (days ago, amount); returns the customer id."""
    async with db.write() as session:
        customer = Customer(
            card_code=new_card_code(),
            name=name,
            name_key=name.casefold(),
            language="en",
            balance=0,
            payment_terms=payment_terms,
            created_at=now - timedelta(days=joined_days_ago),
        )
        session.add(customer)
        await session.flush()
        for days_ago, amount in purchases:
            value = Decimal(amount)
            session.add(
                Purchase(
                    customer_id=customer.id,
                    author_tg_id=1,
                    outlet_code="main",
                    amount=value,
                    refunded_amount=value if refunded else Decimal("0"),
                    points_earned=0,
                    points_redeemed=0,
                    created_at=now - timedelta(days=days_ago),
                )
            )
        return customer.id

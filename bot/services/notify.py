"""Telling a customer about a change, through the outbox of the current transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer
from bot.services.context import Business
from bot.services.outbox import enqueue


def notify_customer(
    session: AsyncSession,
    biz: Business,
    customer: Customer,
    message: str,
    reply_markup: dict[str, Any] | None = None,
    *,
    kind: str = "notice",
    deadline: datetime | None = None,
    **context: Any,
) -> None:
    """Queue ``message`` in the customer's language; customers not in the bot get nothing.

    For what the customer's own act caused (a purchase, a redemption, a tier): no opt-in
    or cap applies. Marketing goes through ``bot.services.contact.queue_for`` instead.
    """
    if customer.telegram_id is None:
        return
    enqueue(
        session,
        now=biz.clock.now(),
        chat_id=customer.telegram_id,
        customer_id=customer.id,
        text=biz.texts.render(customer.language, message, **context),
        reply_markup=reply_markup,
        kind=kind,
        deadline=deadline,
        kinds=biz.settings.outbox.kinds,
    )

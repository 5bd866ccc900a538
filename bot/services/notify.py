"""Telling a customer about a change, through the outbox of the current transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, OutboxMessage
from bot.services.context import Business
from bot.services.outbox import outbox_row


def customer_notice(
    biz: Business,
    customer: Any,
    message: str,
    reply_markup: dict[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any] | None:
    """The outbox row telling ``customer`` (an ORM ``Customer`` or an ``Account``) about a
    change, rendered in their language; None for customers not in the bot."""
    if customer.telegram_id is None:
        return None
    return outbox_row(
        now=biz.clock.now(),
        chat_id=customer.telegram_id,
        customer_id=customer.id,
        text=biz.texts.render(customer.language, message, **context),
        reply_markup=reply_markup,
    )


def notify_customer(
    session: AsyncSession,
    biz: Business,
    customer: Customer,
    message: str,
    reply_markup: dict[str, Any] | None = None,
    **context: Any,
) -> None:
    """Queue ``message`` in the customer's language; customers not in the bot get nothing."""
    row = customer_notice(biz, customer, message, reply_markup, **context)
    if row is not None:
        session.add(OutboxMessage(**row))

"""Telling a customer about a change their own act caused: the row ``customer_notice``
builds is put by ``rows.enqueue`` (ORM session) or ``Books.queue`` (Core hot paths)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.services.context import Business
from bot.services.outbox.deferred_text import Deferred
from bot.services.outbox.rows import outbox_row


def customer_notice(
    biz: Business,
    customer: Any,
    message: str,
    reply_markup: dict[str, Any] | None = None,
    *,
    kind: str = "notice",
    deadline: datetime | None = None,
    **context: Any,
) -> dict[str, Any] | None:
    """The outbox row telling ``customer`` (an ORM ``Customer`` or an ``Account``) about a
    change, in their language, rendered when it is sent (``deferred_text``: not in the
    caller's transaction); None for customers not in the bot.

    For what the customer's own act caused (a purchase, a redemption, a tier): no opt-in
    or cap applies. Marketing goes through ``bot.services.outbox.contact`` instead.
    """
    if customer.telegram_id is None:
        return None
    return outbox_row(
        now=biz.clock.now(),
        chat_id=customer.telegram_id,
        customer_id=customer.id,
        text=Deferred(customer.language, message, context),
        reply_markup=reply_markup,
        kind=kind,
        deadline=deadline,
        kinds=biz.settings.outbox.kinds,
    )

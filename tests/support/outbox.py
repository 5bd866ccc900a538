"""Customers and queued messages written straight to the database, for delivery tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from bot.db.engine import Database
from bot.db.models import Customer, OutboxMessage
from bot.services.context import Business
from bot.services.outbox.rows import enqueue, outbox_row

FIRST_CHAT = 7_000_000


async def add_customers(db: Database, count: int, now: datetime, **fields: Any) -> list[int]:
    """``count`` customers in chats FIRST_CHAT, FIRST_CHAT + 1, ...; returns their ids."""
    rows = [
        {
            "telegram_id": FIRST_CHAT + n,
            "card_code": f"T{n:06d}",
            "language": "en",
            "balance": 0,
            "created_at": now - timedelta(days=30),
            "marketing_opt_in": True,
            **fields,
        }
        for n in range(count)
    ]
    async with db.write() as session:
        await session.execute(insert(Customer), rows)
    async with db.read() as session:
        return list(
            await session.scalars(
                select(Customer.id)
                .where(Customer.telegram_id >= FIRST_CHAT)
                .order_by(Customer.telegram_id)
            )
        )[:count]


async def queue(
    biz: Business,
    chats: list[int],
    *,
    kind: str = "notice",
    text: str = "message {n} to {chat}",
    customer_ids: list[int] | None = None,
    **extra: Any,
) -> list[int]:
    """One message per entry of ``chats`` (repeat a chat for several), queued through
    ``enqueue`` as the product queues them; returns the outbox ids."""
    now = biz.clock.now()
    async with biz.db.write() as session:
        messages = [
            enqueue(
                session,
                outbox_row(
                    now=now,
                    chat_id=chat,
                    text=text.format(n=n, chat=chat),
                    customer_id=None if customer_ids is None else customer_ids[n],
                    kind=kind,
                    kinds=biz.settings.outbox.kinds,
                    **extra,
                ),
            )
            for n, chat in enumerate(chats)
        ]
        await session.flush()
        return [m.id for m in messages]


async def states(db: Database) -> dict[int, str]:
    async with db.read() as session:
        return dict((await session.execute(select(OutboxMessage.id, OutboxMessage.state))).all())

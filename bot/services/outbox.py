"""Outbox: messages queued in the same transaction as the change they report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.db.engine import Database
from bot.db.models import OutboxMessage, OutboxState


def enqueue(
    session: AsyncSession,
    *,
    now: datetime,
    chat_id: int,
    text: str,
    customer_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Queue a message; ``not_before``: not sent before then (a survey after its delay)."""
    message = OutboxMessage(
        chat_id=chat_id,
        customer_id=customer_id,
        text=text,
        reply_markup=reply_markup,
        state=OutboxState.PENDING,
        attempts=0,
        created_at=now,
        not_before=not_before,
    )
    session.add(message)
    return message


def _due(now: datetime) -> ColumnElement[bool]:
    return (OutboxMessage.state == OutboxState.PENDING) & or_(
        OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now
    )


async def due_messages(db: Database, now: datetime, limit: int) -> list[OutboxMessage]:
    async with db.read() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
        )
        return list(rows)


async def due_count(db: Database, now: datetime) -> int:
    """How many messages are due (the sender's backlog, for the metrics)."""
    async with db.read() as session:
        return int(await session.scalar(select(func.count(OutboxMessage.id)).where(_due(now))) or 0)


async def mark_sent(db: Database, message_id: int, now: datetime) -> None:
    async with db.write() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(state=OutboxState.SENT, sent_at=now, attempts=OutboxMessage.attempts + 1)
        )


async def mark_attempt_failed(
    db: Database, message_id: int, error: str, retry_at: datetime | None
) -> None:
    """Schedule a retry at ``retry_at``, or give up (state failed) when it is None."""
    values: dict[str, Any] = {"attempts": OutboxMessage.attempts + 1, "last_error": error[:200]}
    if retry_at is None:
        values["state"] = OutboxState.FAILED
    else:
        values["not_before"] = retry_at
    async with db.write() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
        )

"""Outbox: messages queued in the same transaction as the change they report."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.config import DEFAULT_MESSAGE_KINDS, MessageKind
from bot.db.engine import Database
from bot.db.models import OutboxMessage, OutboxPriority, OutboxState


def enqueue(
    session: AsyncSession,
    *,
    now: datetime,
    chat_id: int,
    text: str,
    customer_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    kind: str = "notice",
    source: str | None = None,
    not_before: datetime | None = None,
    deadline: datetime | None = None,
    kinds: Mapping[str, MessageKind] = DEFAULT_MESSAGE_KINDS,
) -> OutboxMessage:
    """Queue a message in the caller's transaction.

    The kind's rule (``kinds``: pass ``biz.settings.outbox.kinds`` so the owner's config
    applies; the default is the shipped table) gives the priority and, unless ``deadline``
    is given, the deadline: ``not_before`` (or ``now``) plus the kind's ``ttl_minutes``.
    Contact discipline (opt-in, cap, quiet hours) is not checked here: marketing goes
    through ``bot.services.contact.queue_for``.
    """
    message = OutboxMessage(
        **message_values(
            now=now, chat_id=chat_id, text=text, customer_id=customer_id,
            reply_markup=reply_markup, kind=kind, source=source, not_before=not_before,
            deadline=deadline, kinds=kinds,
        )
    )  # fmt: skip
    session.add(message)
    return message


def message_values(
    *,
    now: datetime,
    chat_id: int,
    text: str,
    customer_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    kind: str = "notice",
    source: str | None = None,
    not_before: datetime | None = None,
    deadline: datetime | None = None,
    kinds: Mapping[str, MessageKind] = DEFAULT_MESSAGE_KINDS,
) -> dict[str, Any]:
    """The column values of a queued message (what :func:`enqueue` adds), for a caller
    that inserts many rows in one statement (a broadcast)."""
    rule = kind_rule(kinds, kind)
    if deadline is None:
        deadline = (not_before or now) + timedelta(minutes=rule.ttl_minutes)
    return {
        "chat_id": chat_id,
        "customer_id": customer_id,
        "text": text,
        "reply_markup": reply_markup,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "created_at": now,
        "kind": kind,
        "priority": PRIORITIES[rule.priority],
        "source": source,
        "not_before": not_before,
        "deadline": deadline,
    }


PRIORITIES: dict[str, OutboxPriority] = {
    "transactional": OutboxPriority.TRANSACTIONAL,
    "bulk": OutboxPriority.BULK,
}


def kind_rule(kinds: Mapping[str, MessageKind], kind: str) -> MessageKind:
    """The rule of a message kind; an unknown kind is a programming error."""
    try:
        return kinds[kind]
    except KeyError:
        raise ValueError(f"unknown outbox message kind {kind!r}") from None


def _due(now: datetime) -> ColumnElement[bool]:
    return (OutboxMessage.state == OutboxState.PENDING) & or_(
        OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now
    )


async def due_messages(db: Database, now: datetime, limit: int) -> list[OutboxMessage]:
    """The next due messages: every transactional one before any bulk one (the rows'
    ``priority``, as ``OutboxPriority`` says), oldest first within a priority; the
    ``ix_outbox_claim`` index serves this order."""
    async with db.read() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(_due(now))
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(limit)
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

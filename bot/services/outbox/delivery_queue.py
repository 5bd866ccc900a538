"""The outbox from the sender's side: claiming batches under a lease, and each outcome.

Claims: one write transaction picks the due rows (pending, ``not_before`` reached, no
live lease) in priority order, then age; on PostgreSQL with ``FOR UPDATE SKIP LOCKED``,
so several senders claim disjoint batches; on SQLite the write transaction (``BEGIN
IMMEDIATE``) is the lock. Each claimed row gets ``claimed_until`` = now + lease: a sender
that dies holding it releases it when the lease ends. In the same transaction rows past
their deadline become ``expired`` and messages no longer wanted (contact.still_wanted)
become ``skipped``, so neither is ever sent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.config import MessageKind
from bot.db.engine import Database
from bot.db.models import Customer, OutboxMessage, OutboxState
from bot.services.outbox.contact import mark_unreachable, still_wanted

PENDING = OutboxState.PENDING.value


@dataclass(frozen=True)
class Claimed:
    """A claimed message, as the sender needs it."""

    id: int
    chat_id: int
    text: str | None  # None: rendered from template, locale and context when sent
    reply_markup: dict[str, Any] | None
    kind: str
    priority: int
    attempts: int
    deadline: datetime | None
    customer_id: int | None
    template: str | None = None
    locale: str | None = None
    context: dict[str, Any] | None = None


@dataclass(frozen=True)
class Claim:
    messages: list[Claimed]
    expired: int  # found past their deadline and marked so
    skipped: int  # no longer wanted (opted out, blocked) and marked so


def unclaimed(now: datetime) -> Any:
    """No sender holds the row now: it is not in flight (a claim's lease has run out)."""
    return or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now)


def _due(now: datetime) -> Any:
    return and_(
        OutboxMessage.state == PENDING,
        or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
        unclaimed(now),
    )


async def any_due(db: Database, now: datetime, chats: Collection[int]) -> bool:
    """Whether any of ``chats`` has a message due (the sender's pacing holds them back)."""
    async with db.read() as session:
        found = await session.scalar(
            select(OutboxMessage.id)
            .where(_due(now), OutboxMessage.chat_id.in_(list(chats)))
            .limit(1)
        )
        return found is not None


def rule_of(kinds: Mapping[str, MessageKind], kind: str) -> MessageKind:
    """A kind no longer in the config (renamed, removed) is sent as a plain notice."""
    return kinds.get(kind) or kinds["notice"]


async def claim(
    db: Database,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    kinds: Mapping[str, MessageKind],
    skip_chats: Collection[int] = (),
) -> Claim:
    """Claim up to ``limit`` due messages, transactional first, leaving ``skip_chats`` (the
    chats the sender's pacing holds back) to later claims."""
    where = _due(now)
    if skip_chats:
        where = and_(where, OutboxMessage.chat_id.not_in(list(skip_chats)))
    pick = (
        select(OutboxMessage.id)
        .where(where)
        .order_by(OutboxMessage.priority, OutboxMessage.id)
        .limit(limit)
    )
    async with db.write() as session:
        if not db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        ids = list(await session.scalars(pick))
        if not ids:
            return Claim([], 0, 0)
        rows = (
            await session.execute(
                select(OutboxMessage, Customer.marketing_opt_in, Customer.unreachable_at)
                .outerjoin(Customer, Customer.id == OutboxMessage.customer_id)
                .where(OutboxMessage.id.in_(ids))
                .order_by(OutboxMessage.priority, OutboxMessage.id)
            )
        ).all()
        taken: list[Claimed] = []
        expired: list[int] = []
        skipped: list[int] = []
        for message, opted_in, unreachable_at in rows:
            rule = rule_of(kinds, message.kind)
            if message.deadline is not None and message.deadline <= now:
                expired.append(message.id)
            elif message.chat_id is None or not still_wanted(
                rule,
                opted_in=None if message.customer_id is None else bool(opted_in),
                unreachable=unreachable_at is not None,
            ):
                skipped.append(message.id)
            else:
                taken.append(_claimed(message))
        await _set_state(session, expired, OutboxState.EXPIRED)
        await _set_state(session, skipped, OutboxState.SKIPPED)
        if taken:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([m.id for m in taken]))
                .values(claimed_until=now + lease)
            )
        return Claim(taken, len(expired), len(skipped))


def _claimed(message: OutboxMessage) -> Claimed:
    assert message.chat_id is not None
    return Claimed(
        id=message.id,
        chat_id=message.chat_id,
        text=message.text,  # None for a template rendered when sent (deferred_text)
        reply_markup=message.reply_markup,
        kind=message.kind,
        priority=message.priority,
        attempts=message.attempts,
        deadline=message.deadline,
        customer_id=message.customer_id,
        template=message.template,
        locale=message.locale,
        context=message.context,
    )


async def _set_state(session: AsyncSession, ids: list[int], state: OutboxState) -> None:
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.state == PENDING)
            .values(state=state, claimed_until=None)
        )


async def release(db: Database, ids: Collection[int]) -> None:
    """Give claimed rows back untouched (paced out, or a 429): the next claim takes them."""
    if not ids:
        return
    async with db.write() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.state == PENDING)
            .values(claimed_until=None)
        )


async def release_all(db: Database) -> int:
    """Every lease dropped: only for a sender that knows it is the only one (SQLite, the
    worker lease held), starting after a crash."""
    async with db.write() as session:
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == PENDING, OutboxMessage.claimed_until.is_not(None))
            .values(claimed_until=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def mark_sent(
    db: Database, message_id: int, now: datetime, rendered: str | None = None
) -> None:
    """Sent; ``rendered``: the text of a row rendered at delivery, kept as sent unless
    the customer was erased (/forget) while it was in flight."""
    erased = OutboxMessage.chat_id.is_(None)
    text = {} if rendered is None else {"text": case((erased, None), else_=literal(rendered))}
    await _finish(db, message_id, state=OutboxState.SENT, sent_at=now, **text)


async def mark_failed(
    db: Database, message_id: int, error: str, *, unreachable_customer: int | None, now: datetime
) -> None:
    """Refused for good (400; 403, which also marks the customer unreachable)."""
    async with db.write() as session:
        await _update(session, message_id, state=OutboxState.FAILED, last_error=error[:200])
        if unreachable_customer is not None:
            await mark_unreachable(session, unreachable_customer, now)


# A message refused because its chat blocked the bot (a 403, whatever Telegram's wording):
# its error starts so (migration 0016 marked the ones stored before).
BLOCKED_ERROR = "blocked: "


async def mark_blocked(
    db: Database, message_id: int, error: str, *, customer_id: int | None, now: datetime
) -> None:
    """Refused with a 403: failed for good, and the customer is marked unreachable."""
    await mark_failed(db, message_id, BLOCKED_ERROR + error, unreachable_customer=customer_id,
                      now=now)  # fmt: skip


def blocked() -> ColumnElement[bool]:
    """Outbox rows refused because the chat blocked the bot (``mark_blocked``)."""
    return and_(
        OutboxMessage.state == OutboxState.FAILED,
        OutboxMessage.last_error.startswith(BLOCKED_ERROR),
    )


async def mark_retry(db: Database, message_id: int, error: str, retry_at: datetime) -> None:
    """A passing failure: try again at ``retry_at`` (before the message's deadline)."""
    await _finish(db, message_id, not_before=retry_at, last_error=error[:200])


async def mark_expired(db: Database, message_id: int, error: str) -> None:
    """Failing past its deadline: no use sending it any more."""
    await _finish(db, message_id, state=OutboxState.EXPIRED, last_error=error[:200])


async def _finish(db: Database, message_id: int, **values: Any) -> None:
    async with db.write() as session:
        await _update(session, message_id, **values)


async def _update(session: AsyncSession, message_id: int, **values: Any) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=OutboxMessage.attempts + 1, claimed_until=None, **values)
    )


async def expire_overdue(db: Database, now: datetime) -> int:
    """Pending messages past their deadline and not claimed: expired (the idle sweep, so
    reports show them without waiting for a claim to reach them)."""
    async with db.write() as session:
        result = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.state == PENDING,
                OutboxMessage.deadline <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
            )
            .values(state=OutboxState.EXPIRED)
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def depth_by_priority(db: Database, now: datetime) -> dict[int, int]:
    """Messages due now, per priority (the sender's backlog, for the metrics)."""
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxMessage.priority, func.count(OutboxMessage.id))
            .where(
                OutboxMessage.state == PENDING,
                or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
            )
            .group_by(OutboxMessage.priority)
        )
        return {int(priority): int(count) for priority, count in rows}

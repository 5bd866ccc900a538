"""Outbox: messages queued in the same transaction as the change they report.

``outbox_row`` builds every row; ``enqueue`` puts one through an ORM session. The sender's
side (claims, outcomes) is ``bot.services.outbox.delivery_queue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, overload

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import DEFAULT_MESSAGE_KINDS, MessageKind
from bot.db.models import OutboxMessage, OutboxPriority, OutboxState
from bot.services.outbox.deferred_text import NOT_DEFERRED, Deferred


def outbox_row(
    *,
    now: datetime,
    chat_id: int,
    text: str | Deferred,
    customer_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    kind: str = "notice",
    source: str | None = None,
    not_before: datetime | None = None,
    deadline: datetime | None = None,
    kinds: Mapping[str, MessageKind] = DEFAULT_MESSAGE_KINDS,
) -> dict[str, Any]:
    """A pending ``outbox`` row (for a Core insert in the effect's transaction), with its
    kind's columns (see :func:`_kind_columns`); ``text`` a ``Deferred`` template is rendered when
    the row is sent (``bot.services.outbox.deferred_text``). Every row has the same keys, so that
    a transaction's rows are inserted by one statement."""
    return {
        "chat_id": chat_id,
        "customer_id": customer_id,
        **(text.columns() if isinstance(text, Deferred) else {"text": text, **NOT_DEFERRED}),
        "reply_markup": reply_markup,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "created_at": now,
        **_kind_columns(
            kinds, kind, now=now, source=source, not_before=not_before, deadline=deadline
        ),
    }


@overload
def enqueue(session: AsyncSession, row: dict[str, Any]) -> OutboxMessage: ...
@overload
def enqueue(session: AsyncSession, row: None) -> None: ...
@overload
def enqueue(session: AsyncSession, row: dict[str, Any] | None) -> OutboxMessage | None: ...


def enqueue(session: AsyncSession, row: dict[str, Any] | None) -> OutboxMessage | None:
    """Put ``row`` (from :func:`outbox_row`, ``notify.customer_notice`` or
    ``contact.marketing_rows``) in the outbox, in the caller's transaction; None puts
    nothing (a notice for a customer not in the bot). The Core hot paths append their rows
    to ``counter.books.Books.queue`` instead.

    Contact discipline (opt-in, cap, quiet hours) is not checked here: marketing goes
    through ``bot.services.outbox.contact``.
    """
    if row is None:
        return None
    message = OutboxMessage(**row)
    session.add(message)
    return message


def _kind_columns(
    kinds: Mapping[str, MessageKind],
    kind: str,
    *,
    now: datetime,
    source: str | None = None,
    not_before: datetime | None = None,
    deadline: datetime | None = None,
) -> dict[str, Any]:
    """The kind's columns of a new outbox row (for ORM objects and Core inserts alike):
    the priority, and unless given the deadline, ``not_before`` (or ``now``) plus the
    kind's ``ttl_minutes``."""
    rule = kind_rule(kinds, kind)
    if deadline is None:
        deadline = (not_before or now) + timedelta(minutes=rule.ttl_minutes)
    return {
        "kind": kind,
        "priority": _PRIORITIES[rule.priority],
        "source": source,
        "not_before": not_before,
        "deadline": deadline,
    }


_PRIORITIES: dict[str, OutboxPriority] = {
    "transactional": OutboxPriority.TRANSACTIONAL,
    "bulk": OutboxPriority.BULK,
}


def kind_rule(kinds: Mapping[str, MessageKind], kind: str) -> MessageKind:
    """The rule of a message kind; an unknown kind is a programming error."""
    try:
        return kinds[kind]
    except KeyError:
        raise ValueError(f"unknown outbox message kind {kind!r}") from None

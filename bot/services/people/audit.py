"""Audit log writes: ids and outcomes only, never personal data."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import AuditEntry

if TYPE_CHECKING:
    from bot.services.context import Business
    from bot.services.people.roles import Actor


class AuditOutcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    REFUSED = "refused"


def audit_row(
    *,
    now: datetime,
    actor_tg_id: int | None,
    actor_role: str,
    action: str,
    outcome: AuditOutcome = AuditOutcome.OK,
    customer_id: int | None = None,
    details: dict[str, Any] | None = None,
    update_key: str | None = None,
) -> dict[str, Any]:
    """An ``audit_log`` row (for a Core insert in the effect's transaction)."""
    return {
        "actor_tg_id": actor_tg_id,
        "actor_role": actor_role,
        "action": action,
        "outcome": outcome,
        "customer_id": customer_id,
        "details": details,
        "update_key": update_key,
        "created_at": now,
    }


def add_audit(session: AsyncSession, **fields: Any) -> None:
    """One audit row (``audit_row``'s fields) added to the session's transaction."""
    session.add(AuditEntry(**audit_row(**fields)))


def act_row(
    actor: Actor,
    action: str,
    key: str,
    now: datetime,
    customer_id: int | None = None,
    **details: Any,
) -> dict[str, Any]:
    """What ``actor`` did, as an audit row for the effect's own transaction."""
    return audit_row(
        now=now,
        actor_tg_id=actor.tg_id,
        actor_role=actor.role,
        action=action,
        customer_id=customer_id,
        details=details or None,
        update_key=key,
    )


def audit_act(
    session: AsyncSession,
    actor: Actor,
    action: str,
    key: str,
    now: datetime,
    customer_id: int | None = None,
    **details: Any,
) -> None:
    """What ``actor`` did, in the transaction of the effect itself (ids and numbers only)."""
    session.add(AuditEntry(**act_row(actor, action, key, now, customer_id, **details)))


async def audit_separately(db: Database, **fields: Any) -> None:
    """For refusals: the audit row is written in its own transaction, nothing else is."""
    async with db.write() as session:
        add_audit(session, **fields)


async def audit_by(
    biz: Business,
    actor: Actor,
    action: str,
    key: str | None,
    *,
    outcome: AuditOutcome = AuditOutcome.OK,
    customer_id: int | None = None,
    **details: Any,
) -> None:
    """One audit row for what ``actor`` did (or was refused), in its own transaction."""
    await audit_separately(
        biz.db,
        now=biz.clock.now(),
        actor_tg_id=actor.tg_id,
        actor_role=actor.role,
        action=action,
        outcome=outcome,
        customer_id=customer_id,
        details=details or None,
        update_key=key,
    )


async def audit_view(
    biz: Business,
    actor: Actor,
    action: str,
    key: str,
    customer_id: int | None = None,
    **details: Any,
) -> None:
    """A privileged read (search, card, report): who looked at what, ids only."""
    await audit_by(biz, actor, action, key, customer_id=customer_id, **details)

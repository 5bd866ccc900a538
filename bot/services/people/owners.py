"""Becoming the owner without editing files: a one-time owner code.

With no owner in config and none claimed yet, the active worker issues a code at start-up
(and ``loyalty-bot owner-code`` issues a fresh one, replacing any unclaimed code); whoever
sends it to the bot (``/start own_<code>``) within ``business.owner_code_hours`` becomes
an owner, recorded in ``owners``. Only the code's SHA-256 is stored. Once an owner exists,
more owners join through an owner's one-time link (``/invite owner``: ``add_co_owner``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Invite, Owner
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.audit import add_audit
from bot.services.people.chat_settings import language_in


class OwnerClaimed(BaseModel):
    owner_id: int


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


async def claimed_owner_ids(session: AsyncSession) -> set[int]:
    rows = await session.scalars(select(Owner.telegram_id).where(Owner.telegram_id.is_not(None)))
    return {int(r) for r in rows}


async def owners_in(session: AsyncSession, biz: Business) -> set[int]:
    """Every owner, in the caller's transaction: listed in config, or claimed with a code."""
    return set(biz.settings.business.owner_ids) | await claimed_owner_ids(session)


async def owner_ids(biz: Business) -> set[int]:
    """Every owner: listed in config, or claimed with a code."""
    async with biz.db.read() as session:
        return await owners_in(session, biz)


async def issue_code(biz: Business) -> str:
    """A new one-time code; an earlier unclaimed one stops working."""
    code = secrets.token_urlsafe(12)
    async with biz.db.write() as session:
        await session.execute(delete(Owner).where(Owner.telegram_id.is_(None)))
        session.add(Owner(code_hash=_hash(code), created_at=biz.clock.now()))
    return code


async def code_if_ownerless(biz: Business) -> str | None:
    """At start-up: a code when nobody can be the owner yet, else None; once an owner
    exists, codes nobody claimed stop working (a link left in old logs opens nothing)."""
    async with biz.db.write() as session:
        claimed = await session.scalar(
            select(func.count(Owner.id)).where(Owner.telegram_id.is_not(None))
        )
        if biz.settings.business.owner_ids or claimed:
            await session.execute(delete(Owner).where(Owner.telegram_id.is_(None)))
            return None
    return await issue_code(biz)


async def claim(biz: Business, tg_id: int, key: str, code: str) -> Outcome[OwnerClaimed]:
    now = biz.clock.now()

    async def work(session: AsyncSession) -> OwnerClaimed:
        issued_after = now - timedelta(hours=biz.settings.business.owner_code_hours)
        pending = await session.scalar(
            select(Owner)
            .where(
                Owner.code_hash == _hash(code),
                Owner.telegram_id.is_(None),
                Owner.created_at > issued_after,
            )
            .with_for_update()
        )
        if pending is None:
            raise ServiceError("owner_code_invalid")
        if tg_id in await claimed_owner_ids(session):
            raise ServiceError("already_owner")
        pending.telegram_id, pending.claimed_at = tg_id, now
        add_audit(
            session,
            now=now,
            actor_tg_id=tg_id,
            actor_role="owner",
            action="owner_claim",
            update_key=key,
            details={"owner_id": pending.id},
        )
        return OwnerClaimed(owner_id=pending.id)

    return await run_once(biz.db, biz.clock, key, OwnerClaimed, work)


async def add_co_owner(
    session: AsyncSession, biz: Business, tg_id: int, name: str, invite: Invite, key: str
) -> None:
    """Whoever opens an owner's one-time co-owner link becomes an owner (in the caller's
    transaction, which also locked the invite); the owner who made the link hears it."""
    if tg_id in await owners_in(session, biz):
        raise ServiceError("already_owner")
    now = biz.clock.now()
    session.add(
        Owner(
            code_hash=_hash(f"invite:{invite.token}"),
            telegram_id=tg_id,
            created_at=invite.created_at,
            claimed_at=now,
        )
    )
    invite.used_at, invite.used_by = now, tg_id
    await session.flush()
    language = await language_in(session, invite.created_by)
    text = biz.texts.render(
        biz.texts.locale_for(language), "owner.co_owner_member_joined", name=name
    )
    enqueue(
        session,
        outbox_row(now=now, chat_id=invite.created_by, text=text, kinds=biz.settings.outbox.kinds),
    )
    add_audit(
        session, now=now, actor_tg_id=tg_id, actor_role="owner", action="co_owner_accept",
        update_key=key, details={"invite_id": invite.id, "invited_by": invite.created_by},
    )  # fmt: skip


async def tell_owners(biz: Business, message: str, **context: Any) -> int:
    """Queue ``message`` (a template key) to every owner, in the business's default
    language; returns how many owners were told."""
    async with biz.db.write() as session:
        ids = await owners_in(session, biz)
        text = biz.texts.render(biz.texts.default_locale, message, **context)
        for owner_id in sorted(ids):
            enqueue(
                session,
                outbox_row(now=biz.clock.now(), chat_id=owner_id, text=text,
                           kinds=biz.settings.outbox.kinds),
            )  # fmt: skip
    return len(ids)

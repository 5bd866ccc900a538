"""Staff management: one-time expiring invite links (for staff, or an owner's link that
makes a co-owner), listing and removal."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.codes import new_invite_token
from bot.db.models import Invite, Staff
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.audit import add_audit, audit_act
from bot.services.people.chat_settings import language_in
from bot.services.people.customers import telegram_name
from bot.services.people.owners import add_co_owner
from bot.services.people.roles import Actor

INVITE_ROLES = ("staff", "owner")


class InviteCreated(BaseModel):
    token: str
    expires_at: datetime
    role: str = "staff"


class StaffJoined(BaseModel):
    staff_id: int | None = None  # None for a co-owner
    name: str | None = personal()
    outlet_code: str
    role: str = "staff"


class StaffMember(BaseModel):
    staff_id: int
    telegram_id: int
    name: str
    outlet_code: str
    outlet_name: str = ""


class StaffRemoved(BaseModel):
    staff_id: int
    telegram_id: int | None = None  # None in results stored before it was recorded
    name: str | None = personal()


async def create_invite(
    biz: Business, actor: Actor, key: str, outlet_code: str | None = None, role: str = "staff"
) -> Outcome[InviteCreated]:
    """A one-time link: ``role`` "staff" (a cashier at ``outlet_code``) or "owner" (a
    co-owner; only an owner may ask for one, which the handler's role check ensures)."""
    if role not in INVITE_ROLES:
        raise ServiceError("usage_invite")
    now = biz.clock.now()
    expires = now + timedelta(hours=biz.settings.staff.invite_ttl_hours)
    outlet = outlet_code or biz.settings.business.default_outlet

    async def work(session: AsyncSession) -> InviteCreated:
        token = new_invite_token()
        session.add(
            Invite(
                token=token,
                created_by=actor.tg_id,
                outlet_code=outlet,
                created_at=now,
                expires_at=expires,
                role=role,
            )
        )
        audit_act(session, actor, "invite_create", key, now, outlet=outlet, role=role)
        return InviteCreated(token=token, expires_at=expires, role=role)

    return await run_once(biz.db, biz.clock, key, InviteCreated, work)


async def accept_invite(
    biz: Business, tg_id: int, name: str, key: str, token: str
) -> Outcome[StaffJoined]:
    now = biz.clock.now()
    display = telegram_name(name, fallback=str(tg_id))

    async def work(session: AsyncSession) -> StaffJoined:
        invite = await _open_invite(session, token, now)
        if invite.role == "owner":
            await add_co_owner(session, biz, tg_id, display, invite, key)
            return StaffJoined(name=display, outlet_code=invite.outlet_code, role="owner")
        staff = await session.scalar(select(Staff).where(Staff.telegram_id == tg_id))
        if staff is not None and staff.active:
            raise ServiceError("already_staff")
        if staff is None:
            staff = Staff(
                telegram_id=tg_id,
                name=display,
                outlet_code=invite.outlet_code,
                active=True,
                invited_by=invite.created_by,
                created_at=now,
            )
            session.add(staff)
        else:
            staff.active, staff.removed_at, staff.name = True, None, display
            staff.outlet_code, staff.invited_by = invite.outlet_code, invite.created_by
        invite.used_at, invite.used_by = now, tg_id
        await session.flush()
        await _tell_inviter(session, biz, invite, staff, now)
        add_audit(
            session,
            now=now,
            actor_tg_id=tg_id,
            actor_role="staff",
            action="invite_accept",
            update_key=key,
            details={"staff_id": staff.id, "invite_id": invite.id},
        )
        return StaffJoined(staff_id=staff.id, name=staff.name, outlet_code=staff.outlet_code)

    return await run_once(biz.db, biz.clock, key, StaffJoined, work)


async def _open_invite(session: AsyncSession, token: str, now: datetime) -> Invite:
    """The invite of ``token``, locked; refused when unknown, used or expired."""
    invite = await session.scalar(select(Invite).where(Invite.token == token).with_for_update())
    if invite is None:
        raise ServiceError("invite_unknown")
    if invite.used_at is not None:
        raise ServiceError("invite_used")
    if now >= invite.expires_at:
        raise ServiceError("invite_expired")
    return invite


async def _tell_inviter(
    session: AsyncSession, biz: Business, invite: Invite, staff: Staff, now: datetime
) -> None:
    """The owner who invited them hears they joined, in their language if known."""
    inviter_language = await language_in(session, invite.created_by)
    text = biz.texts.render(
        inviter_language or biz.texts.default_locale,
        "owner.staff_member_joined",
        name=staff.name,
        outlet=biz.settings.business.outlet_name(staff.outlet_code),
    )
    row = outbox_row(now=now, chat_id=invite.created_by, text=text, kinds=biz.settings.outbox.kinds)
    enqueue(session, row)


async def list_staff(biz: Business) -> list[StaffMember]:
    async with biz.db.read() as session:
        rows = await session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.id))
        return [
            StaffMember(
                staff_id=s.id,
                telegram_id=s.telegram_id,
                name=s.name,
                outlet_code=s.outlet_code,
                outlet_name=biz.settings.business.outlet_name(s.outlet_code),
            )
            for s in rows
        ]


async def remove_staff(
    biz: Business, actor: Actor, key: str, staff_id: int
) -> Outcome[StaffRemoved]:
    now = biz.clock.now()

    async def work(session: AsyncSession) -> StaffRemoved:
        staff = await session.get(Staff, staff_id)
        if staff is None or not staff.active:
            raise ServiceError("staff_not_found")
        staff.active, staff.removed_at = False, now
        audit_act(session, actor, "staff_remove", key, now, staff_id=staff.id)
        return StaffRemoved(staff_id=staff.id, telegram_id=staff.telegram_id, name=staff.name)

    return await run_once(biz.db, biz.clock, key, StaffRemoved, work)


async def sync_outlets(biz: Business) -> None:
    """Outlets are declared in config; mirror them into the table the foreign keys use."""
    from bot.db.models import Outlet

    async with biz.db.write() as session:
        for outlet in biz.settings.business.outlets:
            row = await session.get(Outlet, outlet.code)
            if row is None:
                session.add(Outlet(code=outlet.code, name=outlet.name))
            else:
                row.name = outlet.name


async def name_of(session: AsyncSession, tg_id: int) -> str | None:
    """A staff member's name (a removed one's too); None for an owner or a stranger."""
    return await session.scalar(select(Staff.name).where(Staff.telegram_id == tg_id))

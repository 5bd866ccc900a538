"""An owner's ``/adjust``: a manual correction of a balance, and its second owner.

An adjustment of more points than ``controls.adjust_second_owner_points`` (either sign)
waits for a second owner when the business has two or more: the request goes to the
others with approve and reject buttons (``approvals.ask_owners``), and only another owner's
approval posts it (``decide_adjustment``); the owner who asked cannot approve it, a second
press finds it decided, and a rejected one never posts. With one owner it is posted at once.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Approval, ApprovalState, Customer, LedgerKind
from bot.services.context import Business
from bot.services.counter.approvals import ADJUST_PREFIX, approvers, ask_owners
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.money.ledger import lock_customer, post
from bot.services.outbox.deferred_text import Deferred
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.audit import audit_act
from bot.services.people.customers import customer_for
from bot.services.people.roles import Actor, Role
from bot.services.requests import AdjustRequest


class AdjustResult(BaseModel):
    customer_id: int
    card_code: str
    customer_name: str | None = personal()
    points: int
    balance: int
    approval_id: int | None = None  # waiting for a second owner: nothing posted yet


class AdjustDecision(BaseModel):
    approval_id: int
    state: ApprovalState
    card_code: str
    points: int
    balance: int


def needs_second_owner(biz: Business, points: int) -> bool:
    threshold = biz.settings.controls.adjust_second_owner_points
    return threshold is not None and abs(points) > threshold


async def adjust(
    biz: Business, actor: Actor, key: str, request: AdjustRequest
) -> Outcome[AdjustResult]:
    now = biz.clock.now()

    async def work(session: AsyncSession) -> AdjustResult:
        found = await customer_for(session, biz, actor, request.customer)
        customer = await lock_customer(session, found.id)
        if needs_second_owner(biz, request.points) and await approvers(session, biz, actor.tg_id):
            return await _hold(session, biz, actor, key, request, customer, now)
        _post(session, biz, customer, points=request.points, reason=request.reason, key=key,
              author_tg_id=actor.tg_id, now=now)  # fmt: skip
        audit_act(session, actor, "adjust", key, now, customer.id, points=request.points)
        return AdjustResult(
            customer_id=customer.id, card_code=customer.card_code, customer_name=customer.name,
            points=request.points, balance=customer.balance,
        )  # fmt: skip

    return await run_once(biz.db, biz.clock, key, AdjustResult, work, event="adjustment")


def _post(
    session: AsyncSession, biz: Business, customer: Customer, *, points: int, reason: str,
    key: str, author_tg_id: int, now: datetime,
) -> None:  # fmt: skip
    """The ADJUSTMENT entry and the customer's notice of it."""
    post(session, customer, kind=LedgerKind.ADJUSTMENT, points=points, key=key, now=now,
         author_tg_id=author_tg_id, reason=reason)  # fmt: skip
    enqueue(session, customer_notice(biz, customer, "customer.adjusted", points=points,
                                     reason=reason, balance=customer.balance))  # fmt: skip


async def _hold(
    session: AsyncSession, biz: Business, actor: Actor, key: str, request: AdjustRequest,
    customer: Customer, now: datetime,
) -> AdjustResult:  # fmt: skip
    approval = Approval(
        kind="adjust", state=ApprovalState.PENDING, customer_id=customer.id,
        author_tg_id=actor.tg_id, author_locale=actor.locale, outlet_code=actor.outlet_code,
        points=request.points, reason=request.reason, created_at=now,
    )  # fmt: skip
    session.add(approval)
    await session.flush()
    await ask_owners(session, biz, approval, ADJUST_PREFIX, card_code=customer.card_code,
                     threshold=biz.settings.controls.adjust_second_owner_points)  # fmt: skip
    audit_act(session, actor, "adjust_held", key, now, customer.id, approval_id=approval.id,
              points=request.points)  # fmt: skip
    return AdjustResult(
        customer_id=customer.id, card_code=customer.card_code, customer_name=customer.name,
        points=request.points, balance=customer.balance, approval_id=approval.id,
    )  # fmt: skip


async def decide_adjustment(
    biz: Business, actor: Actor, key: str, approval_id: int, accept: bool
) -> Outcome[AdjustDecision]:
    """A second owner's button on a held ``/adjust``: posted exactly once on approval
    (the approval row is locked and must still be pending; the entry's key is the
    approval's), never on rejection; the owner who asked hears the outcome."""
    now = biz.clock.now()

    async def work(session: AsyncSession) -> AdjustDecision:
        approval = await _pending(session, actor, approval_id, "adjust")
        customer = await lock_customer(session, approval.customer_id)
        state = ApprovalState.APPROVED if accept else ApprovalState.REJECTED
        if accept:
            assert approval.points is not None and approval.reason is not None
            _post(session, biz, customer, points=approval.points, reason=approval.reason,
                  key=f"{ADJUST_PREFIX}:{approval.id}", author_tg_id=approval.author_tg_id,
                  now=now)  # fmt: skip
        approval.state, approval.decided_at, approval.decided_by = state, now, actor.tg_id
        decision = AdjustDecision(approval_id=approval.id, state=state,
                                  card_code=customer.card_code, points=approval.points or 0,
                                  balance=customer.balance)  # fmt: skip
        enqueue(session, outbox_row(
            now=now, chat_id=approval.author_tg_id,
            text=Deferred(approval.author_locale, "controls.adjust_decided",
                          decision.model_dump()),
            kinds=biz.settings.outbox.kinds,
        ))  # fmt: skip
        audit_act(session, actor, f"adjust_{state}", key, now, customer.id,
                  approval_id=approval.id, points=approval.points)  # fmt: skip
        return decision

    return await run_once(biz.db, biz.clock, key, AdjustDecision, work, event="adjust decided")


async def _pending(session: AsyncSession, actor: Actor, approval_id: int, kind: str) -> Approval:
    """The approval, locked; refused unless an owner other than its author decides it
    while it is pending."""
    if not actor.may(Role.OWNER):
        raise ServiceError("approval_owners_only")
    approval = await session.scalar(
        select(Approval).where(Approval.id == approval_id).with_for_update()
    )
    if approval is None or approval.kind != kind:
        raise ServiceError("approval_not_found")
    if approval.state != ApprovalState.PENDING:
        raise ServiceError("approval_closed", state=approval.state)
    if approval.author_tg_id == actor.tg_id:
        raise ServiceError("approval_second_owner")
    return approval

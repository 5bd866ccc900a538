"""A low survey score as a complaint the owners answer and close (seed 004).

Seed 004 (004_235a4ca77e3bcda9.txt): "Активный сбор обратной связи от клиентов (опросы,
отзывы) и оперативное реагирование на нее". A score at or below
``survey.low_score_threshold`` opens a conversation of source ``survey`` (through
``conversations.open_in``): the owners' alert carries its Reply button (the answer reaches
the customer as any answer does) and a Resolved button. A complaint is open until an owner
marks it resolved; /stats counts open and resolved complaints and the time from the
complaint to its first answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Conversation, Customer
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.people.audit import audit_act
from bot.services.people.conversations import CONVERSATION_PREFIX
from bot.services.people.roles import Actor, Role

COMPLAINT = "survey"  # the conversations.source of a complaint
RESOLVE_PREFIX = "cz"  # callback data of the Resolved button: cz:<conversation id>
IS_COMPLAINT = Conversation.source == COMPLAINT
MINUTE = timedelta(minutes=1)


def complaint_keyboard(reply: str, resolve: str, conversation_id: int) -> dict[str, object]:
    """The alert's two buttons: answer the customer, mark the complaint resolved."""
    return {
        "inline_keyboard": [
            [
                {"text": reply, "callback_data": f"{CONVERSATION_PREFIX}:{conversation_id}"},
                {"text": resolve, "callback_data": f"{RESOLVE_PREFIX}:{conversation_id}"},
            ]
        ]
    }


class Resolved(BaseModel):
    conversation_id: int
    card_code: str
    answered: bool  # whether anyone answered the customer before it was closed


async def resolve(biz: Business, actor: Actor, key: str, conversation_id: int) -> Outcome[Resolved]:
    """An owner marks a complaint resolved, once: a second press, another conversation's id
    or a customer's question (not a complaint) is refused and writes nothing."""
    if actor.role != Role.OWNER:
        raise ServiceError("not_available")
    now = biz.clock.now()

    async def work(session: AsyncSession) -> Resolved:
        row = (
            await session.execute(
                select(Conversation, Customer.card_code)
                .join(Customer, Customer.id == Conversation.customer_id)
                .where(Conversation.id == conversation_id, IS_COMPLAINT)
            )
        ).one_or_none()
        if row is None:
            raise ServiceError("complaint_unknown")
        conversation, card_code = row
        closed = await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.resolved_at.is_(None))
            .values(resolved_at=now)
            .execution_options(synchronize_session=False)
        )
        if closed.rowcount != 1:  # type: ignore[attr-defined]
            raise ServiceError("complaint_resolved")
        audit_act(session, actor, "complaint_resolved", key, now, conversation.customer_id,
                  conversation_id=conversation_id)  # fmt: skip
        return Resolved(
            conversation_id=conversation_id,
            card_code=card_code,
            answered=conversation.first_answer_at is not None,
        )

    return await run_once(biz.db, biz.clock, key, Resolved, work, event="complaint_resolved")


@dataclass(frozen=True)
class ComplaintFigures:
    """Complaints for /stats: ``open`` now; the others within the period."""

    open: int
    opened: int
    resolved: int
    answered: int  # of those opened in the period, answered by now
    median_minutes: int | None  # complaint to its first answer, of those answered


async def complaint_figures(
    session: AsyncSession, start: datetime, end: datetime
) -> ComplaintFigures:
    still_open = await session.scalar(
        select(func.count(Conversation.id)).where(IS_COMPLAINT, Conversation.resolved_at.is_(None))
    )
    resolved = await session.scalar(
        select(func.count(Conversation.id)).where(
            IS_COMPLAINT, Conversation.resolved_at >= start, Conversation.resolved_at < end
        )
    )
    opened = (
        await session.execute(
            select(Conversation.opened_at, Conversation.first_answer_at).where(
                IS_COMPLAINT, Conversation.opened_at >= start, Conversation.opened_at < end
            )
        )
    ).all()  # a few rows: complaints are the low scores of one period
    waits = [answer - asked for asked, answer in opened if answer is not None]
    return ComplaintFigures(
        open=int(still_open or 0),
        opened=len(opened),
        resolved=int(resolved or 0),
        answered=len(waits),
        median_minutes=round(median(waits) / MINUTE) if waits else None,
    )

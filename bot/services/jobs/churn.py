"""Why customers leave (seed 004): the win-back message asks, and a reason may stop it.

Seed 004 (004_235a4ca77e3bcda9.txt) lists among the analyses "анализ оттока клиентов и его
причин". Each win-back message (``bot.services.jobs.winback``) carries one button per reason
(``bot.config.CHURN_REASONS``: price, quality, moved, other; ``winback.ask_reason``); the
answer is kept once per message (``churn_answers.member_id`` unique) and counted in /stats.
A customer whose answer is one of ``winback.stop_reasons`` (default: moved) is no longer
selected by the win-back job (``selection.winback_candidates``).

Only the customer the message went to can answer it: a forged or someone else's member
id, a held-out member (who got no message), an unknown reason or a second answer writes
nothing.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import WinBackSettings
from bot.config.jobs import CHURN_REASONS
from bot.db.models import Campaign, CampaignKind, CampaignMember, ChurnAnswer, Customer
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once

CHURN_PREFIX = "ch"  # callback data: ch:<win-back member id>:<reason>
WINBACK = "winback"  # the win-back job's name and campaign (bot.services.jobs.winback)


def reason_keyboard(labels: dict[str, str], member_id: int) -> dict[str, object]:
    """One button per reason, two a row (``labels``: reason -> its label)."""
    buttons = [
        {"text": labels[reason], "callback_data": f"{CHURN_PREFIX}:{member_id}:{reason}"}
        for reason in CHURN_REASONS
    ]
    return {"inline_keyboard": [buttons[i : i + 2] for i in range(0, len(buttons), 2)]}


def stopped(rules: WinBackSettings) -> ColumnElement[bool]:
    """SQL: the customer gave a reason after which win-back no longer writes to them."""
    return exists().where(
        ChurnAnswer.customer_id == Customer.id, ChurnAnswer.reason.in_(rules.stop_reasons)
    )


class ChurnAnswered(BaseModel):
    member_id: int
    reason: str
    stops: bool  # no further win-back messages


async def record(
    biz: Business, tg_id: int, key: str, member_id: int, reason: str
) -> Outcome[ChurnAnswered]:
    """The reason given under one win-back message, once (module docstring)."""
    if reason not in CHURN_REASONS:
        raise ServiceError("churn_unknown")
    now = biz.clock.now()

    async def work(session: AsyncSession) -> ChurnAnswered:
        member = await session.scalar(
            select(CampaignMember)
            .join(Campaign, Campaign.id == CampaignMember.campaign_id)
            .join(Customer, Customer.id == CampaignMember.customer_id)
            .where(
                CampaignMember.id == member_id,
                Campaign.kind == CampaignKind.JOB,
                Campaign.name == WINBACK,
                CampaignMember.held_out.is_(False),
                Customer.telegram_id == tg_id,
            )
        )
        if member is None or member.outbox_id is None:
            raise ServiceError("churn_unknown")
        if await session.scalar(select(ChurnAnswer.id).where(ChurnAnswer.member_id == member_id)):
            raise ServiceError("churn_answered")
        session.add(
            ChurnAnswer(
                member_id=member_id, customer_id=member.customer_id, reason=reason,
                answered_at=now,
            )
        )  # fmt: skip
        return ChurnAnswered(
            member_id=member_id, reason=reason, stops=reason in biz.settings.winback.stop_reasons
        )

    return await run_once(biz.db, biz.clock, key, ChurnAnswered, work, event="churn_reason")

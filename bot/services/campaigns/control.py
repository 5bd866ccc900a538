"""A broadcast under way: its progress (the campaign's outbox rows by state) and stopping it
(messages not yet sent are cancelled, and so are the offers they carried)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    NEVER_SENT,
    Campaign,
    CampaignKind,
    CampaignState,
    Offer,
    OutboxMessage,
    OutboxState,
)
from bot.services.campaigns import enrolment as campaigns
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.outbox import delivery_queue
from bot.services.people.audit import audit_act
from bot.services.people.roles import Actor


@dataclass
class Progress:
    campaign_id: int
    state: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return self.counts.get(OutboxState.PENDING, 0)

    @property
    def sent(self) -> int:
        return self.counts.get(OutboxState.SENT, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(OutboxState.FAILED, 0)

    @property
    def stopped(self) -> int:
        return sum(self.counts.get(s, 0) for s in NEVER_SENT)

    @property
    def finished(self) -> bool:
        return self.pending == 0


async def progress(biz: Business, campaign_id: int) -> Progress:
    """The campaign's outbox rows by state."""
    async with biz.db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        rows = await session.execute(
            select(OutboxMessage.state, func.count(OutboxMessage.id))
            .where(OutboxMessage.source == campaigns.source_of(campaign_id))
            .group_by(OutboxMessage.state)
        )
        counts = {str(state): int(n) for state, n in rows.all()}
    return Progress(campaign_id, campaign.state if campaign else "unknown", counts)


class Cancelled(BaseModel):
    campaign_id: int
    cancelled: int
    finished: bool = False  # nothing was left to stop: the broadcast stays as it was


async def cancel(biz: Business, actor: Actor, key: str, campaign_id: int) -> Outcome[Cancelled]:
    """Stop a broadcast: its messages not yet sent are cancelled (the sender skips them),
    and so are the offers they carried."""
    now = biz.clock.now()

    async def work(session: AsyncSession) -> Cancelled:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None or campaign.kind != CampaignKind.BROADCAST:
            raise ServiceError("campaign_unknown")
        result = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.source == campaigns.source_of(campaign_id),
                OutboxMessage.state == OutboxState.PENDING,
                delivery_queue.unclaimed(now),  # a message in flight is sent, not stopped
            )
            .values(state=OutboxState.CANCELLED)
            .execution_options(synchronize_session=False)
        )
        # an offer is only worth what its message said: those never told lose theirs
        untold = select(OutboxMessage.customer_id).where(
            OutboxMessage.source == campaigns.source_of(campaign_id),
            OutboxMessage.state == OutboxState.CANCELLED,
        )
        await session.execute(
            update(Offer)
            .where(
                Offer.source == campaigns.source_of(campaign_id),
                Offer.used_at.is_(None),
                Offer.valid_until > now,
                Offer.customer_id.in_(untold),
            )
            .values(valid_until=now)
            .execution_options(synchronize_session=False)
        )
        cancelled = int(result.rowcount or 0)  # type: ignore[attr-defined]
        pending = await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.source == campaigns.source_of(campaign_id),
                OutboxMessage.state == OutboxState.PENDING,
            )
        )
        if not cancelled and not pending:  # all delivered (or failed) already
            return Cancelled(campaign_id=campaign_id, cancelled=0, finished=True)
        campaign.state = CampaignState.CANCELLED
        audit_act(session, actor, "broadcast_cancel", key, now, campaign_id=campaign_id,
                  cancelled=cancelled)  # fmt: skip
        return Cancelled(campaign_id=campaign_id, cancelled=cancelled)

    return await run_once(biz.db, biz.clock, key, Cancelled, work, event="broadcast_cancel")

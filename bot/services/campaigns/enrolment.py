"""Campaigns: who a broadcast or a scheduled job reached, and who it held out.

Every send the product makes to a chosen group (an owner's broadcast, a job's birthday
greetings) enrols each customer in a campaign, once per occurrence. A share of them
(``campaigns.holdout_percent``) is held out and gets nothing: comparing their purchases
with the recipients' is what shows whether the message paid (``/campaigns``).

Holdout membership is a hash of (campaign, customer): random with respect to anything
about the customer, the same on every rerun and on every worker, so a job restarted in the
middle of a day holds out the same people and a report can be recomputed at any time.

A recurring job draws its holdout per occurrence (issue 21: the same customers were left
out of the birthday greeting every year). The hash places each customer on a ring of
buckets; a numbered occurrence (the birthday's year, the win-back window) turns the ring
by the holdout's own width, so consecutive occurrences hold out disjoint slices and nobody
is held out twice in a row (``holdout_percent`` is at most 50). Other occurrences (a
holiday's or a service's date) draw afresh from a hash that includes them. A broadcast has
one occurrence and keeps the plain (campaign, customer) draw.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Campaign, CampaignKind, CampaignMember, CampaignState

SOURCE_PREFIX = "campaign:"  # outbox.source and offers.source of what a campaign sent
_BUCKETS = 10_000


def source_of(campaign_id: int) -> str:
    return f"{SOURCE_PREFIX}{campaign_id}"


def _bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % _BUCKETS


def is_held_out(
    campaign_id: int, customer_id: int, percent: int, occurrence: str | None = None
) -> bool:
    """Whether the customer is in the holdout group (``percent`` of everyone) of the
    campaign, or of one occurrence of a recurring job (module docstring)."""
    width = percent * _BUCKETS // 100
    if occurrence is None:
        return _bucket(f"holdout:{campaign_id}:{customer_id}") < width
    if occurrence.isdigit():  # numbered: turn the ring by one holdout width per occurrence
        turned = _bucket(f"holdout:{campaign_id}:{customer_id}") + int(occurrence) * width
        return turned % _BUCKETS < width
    return _bucket(f"holdout:{campaign_id}:{customer_id}:{occurrence}") < width


async def job_campaign(
    session: AsyncSession, job: str, *, now: datetime, holdout_percent: int
) -> Campaign:
    """The one campaign of the scheduled job ``job`` (made on its first run).

    One worker runs the jobs (the worker lease), so a plain get-or-create is enough.
    """
    campaign = await session.scalar(
        select(Campaign)
        .where(Campaign.kind == CampaignKind.JOB, Campaign.name == job)
        .order_by(Campaign.id)
        .limit(1)
    )
    if campaign is None:
        campaign = Campaign(
            kind=CampaignKind.JOB,
            name=job,
            holdout_percent=holdout_percent,
            state=CampaignState.ACTIVE,
            created_at=now,
        )
        session.add(campaign)
        await session.flush()
    return campaign


async def enrol(
    session: AsyncSession,
    campaign: Campaign,
    customer_id: int,
    occurrence: str,
    *,
    now: datetime,
) -> CampaignMember | None:
    """Enrol the customer in this occurrence; None when already enrolled (a rerun).

    The caller sends nothing when the member is ``held_out``. Runs in a SAVEPOINT, so a
    duplicate leaves the caller's transaction usable.
    """
    member = CampaignMember(
        campaign_id=campaign.id,
        customer_id=customer_id,
        occurrence=occurrence,
        held_out=is_held_out(campaign.id, customer_id, campaign.holdout_percent, occurrence),
        enrolled_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(member)
    except IntegrityError:
        return None
    return member


def holdout(campaign: Campaign, customer_ids: list[int]) -> dict[int, bool]:
    """Customer id -> held out, by :func:`is_held_out` (the rule :func:`enrol` applies)."""
    return {cid: is_held_out(campaign.id, cid, campaign.holdout_percent) for cid in customer_ids}


async def enrol_new(
    session: AsyncSession,
    campaign: Campaign,
    held: dict[int, bool],
    occurrence: str,
    *,
    now: datetime,
    outbox_ids: dict[int, int] | None = None,
    offer_ids: dict[int, int] | None = None,
) -> None:
    """Enrol many customers in a campaign made in this same transaction (a broadcast),
    in one statement: nobody can be enrolled already. ``held`` comes from :func:`holdout`;
    ``outbox_ids``/``offer_ids`` record what was sent to each recipient."""
    if not held:
        return
    outbox_ids, offer_ids = outbox_ids or {}, offer_ids or {}
    await session.execute(
        insert(CampaignMember.__table__),
        [
            {"campaign_id": campaign.id, "customer_id": cid, "occurrence": occurrence,
             "held_out": out, "enrolled_at": now, "outbox_id": outbox_ids.get(cid),
             "offer_id": offer_ids.get(cid)}
            for cid, out in held.items()
        ],
    )  # fmt: skip

"""Who a broadcast to an audience can reach now: the audience's customers and the contact
rules' verdict on each (the wizard shows it from its first step; the preparation and the
launch use the same count)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.campaigns import audience
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.outbox import contact

KIND = "broadcast"  # the outbox kind (``[outbox.kinds.broadcast]``)


def valid_filters(biz: Business, filters: dict[str, object]) -> dict[str, object]:
    try:
        return audience.validate(biz.settings, filters)
    except audience.AudienceError as err:
        raise ServiceError("broadcast_bad_filter", reason=str(err)) from None


@dataclass(frozen=True)
class Reach:
    """Who a broadcast to these filters could reach now (the wizard's every step)."""

    audience: int
    reachable: int
    excluded: dict[str, int]  # contact verdict -> customers it leaves out


async def reach(biz: Business, filters: dict[str, object]) -> Reach:
    valid = valid_filters(biz, filters)
    async with biz.db.read() as session:
        everyone, ok, excluded = await reachable_now(session, biz, valid, biz.clock.now())
    return Reach(audience=len(everyone), reachable=len(ok), excluded=dict(excluded))


async def reachable_now(
    session: AsyncSession, biz: Business, filters: dict[str, object], now: datetime
) -> tuple[list[Any], list[Any], Counter[str]]:
    everyone = await audience.customers(session, biz, filters)
    verdicts = await contact.reach_many(session, biz, everyone, now, kind=KIND)
    ok = [c for c in everyone if verdicts[c.id] is contact.ContactVerdict.OK]
    excluded = Counter(str(v) for v in verdicts.values() if v is not contact.ContactVerdict.OK)
    return everyone, ok, excluded

"""Win-back: one offer per window to a customer drifting away (seed 004, SPEC.md).

Drifting (``job_selection.winback_candidates``, on the scoring job's customer_scores): the
days since their last live purchase exceed ``winback.interval_factor`` times their own
usual interval between purchases (and ``min_days``), or the scoring's probability that they
are still active (the modified BG/NBD's P(alive)) is below ``winback.p_alive_below``. One
message (with ``winback.offer``) per customer per window of ``window_days`` (occurrence =
the window's first day), so a customer who stays away is asked again next window, not
every day.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, CustomerScore
from bot.services.context import Business
from bot.services.jobs.common import (
    Build,
    Send,
    campaign_id,
    job_send,
    local_today,
    run_for,
    window_start,
)
from bot.services.jobs.selection import winback_candidates

WINBACK = "winback"


def occurrence_today(biz: Business) -> str:
    today = local_today(biz.settings, biz.clock.now())
    return window_start(biz.settings.winback.window_days, today).isoformat()


def winback_build(biz: Business) -> Build:
    async def build(session: AsyncSession, customer: Customer) -> Send:
        score = await session.get(CustomerScore, customer.id)
        extra = {"days_since_last": score.days_since_last if score is not None else None}
        return job_send(biz.settings, customer, "winback", extra, offer=biz.settings.winback.offer)

    return build


async def run_winback(biz: Business) -> dict[str, int]:
    rules = biz.settings.winback
    if not rules.enabled:
        return {}
    now = biz.clock.now()
    occurrence = occurrence_today(biz)
    campaign = await campaign_id(biz, WINBACK)
    async with biz.db.read() as session:
        ids = await winback_candidates(session, rules, campaign, occurrence, now)
    report = await run_for(
        biz, WINBACK, [(i, occurrence) for i in ids], winback_build(biz), campaign=campaign
    )
    return report.as_dict()

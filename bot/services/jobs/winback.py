"""Win-back: one offer per window to a customer drifting away (seed 004, SPEC.md).

Drifting (``job_selection.winback_candidates``, on the scoring job's customer_scores): the
days since their last live purchase exceed ``winback.interval_factor`` times their own
usual interval between purchases (and ``min_days``), or the scoring's probability that they
are still active (the modified BG/NBD's P(alive)) is below ``winback.p_alive_below``. One
message (with ``winback.offer``) per customer per window of ``window_days`` (occurrence =
the window's first day), so a customer who stays away is asked again next window, not
every day.
The message asks why they stopped coming (``bot.services.jobs.churn``); some answers end
the win-back messages to that customer.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config.jobs import CHURN_REASONS
from bot.db.models import Customer, CustomerScore
from bot.services.context import Business
from bot.services.jobs.churn import WINBACK, reason_keyboard
from bot.services.jobs.common import (
    Build,
    Buttons,
    Send,
    campaign_id,
    job_send,
    local_today,
    run_for,
    window_start,
)
from bot.services.jobs.selection import winback_candidates


def occurrence_today(biz: Business) -> str:
    today = local_today(biz.settings, biz.clock.now())
    return window_start(biz.settings.winback.window_days, today).isoformat()


def _reason_buttons(biz: Business) -> Buttons:
    """The "why did you stop coming?" buttons under one member's message (``churn``)."""

    def buttons(member_id: int, locale: str) -> dict[str, object]:
        label = biz.texts.plain
        labels = {r: label(locale, "customer.churn_button", reason=r) for r in CHURN_REASONS}
        return reason_keyboard(labels, member_id)

    return buttons


def winback_build(biz: Business) -> Build:
    async def build(session: AsyncSession, customer: Customer) -> Send:
        score = await session.get(CustomerScore, customer.id)
        extra = {
            "days_since_last": score.days_since_last if score is not None else None,
            "ask_reason": biz.settings.winback.ask_reason,
        }
        send = job_send(biz.settings, customer, "winback", extra, offer=biz.settings.winback.offer)
        if not biz.settings.winback.ask_reason:
            return send
        return replace(send, buttons=_reason_buttons(biz))

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

"""``loyalty-bot preview JOB --customer <card code>``: what one customer would get from a job
today, rendered in their language, and whether today's selection picks them and contact
discipline lets it through. Reads only: nothing is enrolled, granted, credited or queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Campaign, CampaignKind, Customer
from bot.services.campaigns.treatment import Treatment
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.jobs import selection as sel
from bot.services.jobs.car import (
    TRADEIN,
    TRADEIN_OCCURRENCE,
    due_reminders,
    reminder_build,
    tradein_build,
)
from bot.services.jobs.common import (
    Send,
    customer_by_card,
    local_today,
    render_preview,
    treated,
)
from bot.services.jobs.greetings import birthday_build, holiday_build, holiday_today
from bot.services.jobs.winback import WINBACK, occurrence_today, winback_build
from bot.services.outbox.contact import reach

JOBS = ("birthday", "holidays", "reminders", "tradein", "winback")


@dataclass(frozen=True)
class Preview:
    job: str
    selected: bool  # today's selection picks the customer
    verdict: str  # contact discipline: ok, opted_out, unreachable, capped, no_chat
    text: str | None  # None: the job has nothing for them at all (no holiday today...)
    treatment: Treatment | None = None  # the treatment table's cell (strategy x value)


async def _campaign_id(session: AsyncSession, job: str) -> int:
    """The job's campaign id without creating it (0 when it never ran)."""
    found = await session.scalar(
        select(Campaign.id).where(Campaign.kind == CampaignKind.JOB, Campaign.name == job)
    )
    return int(found or 0)


async def _one(
    biz: Business, session: AsyncSession, job: str, customer: Customer, now: datetime
) -> list[tuple[bool, Send | None]]:
    settings = biz.settings
    today = local_today(settings, now)
    if job == "birthday":
        day = today + timedelta(days=settings.birthday.days_ahead)
        chosen = customer.id in await sel.birthday_candidates(session, day)
        return [(chosen, await birthday_build(biz, now)(session, customer))]
    if job == "holidays":
        holiday = holiday_today(biz, now)
        if holiday is None:
            return [(False, None)]
        chosen = customer.id in await sel.holiday_candidates(session)
        return [(chosen, await holiday_build(biz, holiday)(session, customer))]
    if job == "reminders":
        found = []
        for rule in settings.reminders.rules:
            due = await due_reminders(biz, session, rule, now)
            service_at = due.get(customer.id, now)
            send = await reminder_build(biz, rule, service_at)(session, customer)
            found.append((customer.id in due, send))
        return found or [(False, None)]
    if job == "tradein":
        ids = await sel.tradein_candidates(
            session,
            settings.tradein,
            await _campaign_id(session, TRADEIN),
            TRADEIN_OCCURRENCE,
            now,
            today,
        )
        return [(customer.id in ids, await tradein_build(biz)(session, customer))]
    ids = await sel.winback_candidates(
        session, settings.winback, await _campaign_id(session, WINBACK), occurrence_today(biz), now
    )
    return [(customer.id in ids, await winback_build(biz)(session, customer))]


async def preview(biz: Business, job: str, card_code: str) -> list[Preview]:
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}: one of {', '.join(JOBS)}")
    now = biz.clock.now()
    async with biz.db.read() as session:
        customer = await customer_by_card(session, card_code)
        if customer is None:
            raise ServiceError("customer_not_found", token=card_code)
        shown = []
        for chosen, built in await _one(biz, session, job, customer, now):
            send = await treated(session, biz, customer, job, built)
            if send is None:
                shown.append(Preview(job, False, "-", None))
                continue
            verdict = await reach(session, biz, customer, now, kind=send.kind)
            text = await render_preview(biz, customer, send) if send.allowed else None
            shown.append(Preview(job, chosen, verdict.value, text, send.treatment))
        return shown


def describe(item: Preview) -> str:
    """What the CLI prints for one preview: selection, contact, the treatment cell, text."""
    cell = item.treatment
    labels = (
        f"treatment: strategy {cell.strategy or 'not scored'}, value {cell.value or '-'}"
        if cell is not None
        else ""
    )
    if cell is not None and not cell.allowed:
        return f"{item.job}: not for this customer ([treatment] table); {labels}"
    if item.text is None:
        return f"{item.job}: nothing today"
    picked = "selected today" if item.selected else "not selected today"
    gifts = f"; {labels}, gifts at {cell.gift_percent} %" if cell is not None else ""
    return f"{item.job}: {picked}; contact: {item.verdict}{gifts}\n{item.text}\n"

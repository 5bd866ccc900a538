"""Car jobs (seed 004): service reminders and the one-time trade-in offer.

Service reminders, per ``reminders.rules`` entry (a service tag): due ``days`` after the
customer's last live purchase or visit with that tag, or when the kilometres since it at
their newest estimated monthly run (``bot.services.people.mileage``; the default run without
readings) reach ``km``, whichever comes first (``job_selection.reminder_candidates``). Sent
on the day it is due, or within ``catch_up_days`` after (a worker that was down catches
up); once per
service (campaign ``reminder:<tag>``, occurrence = the local date of that service, so a
new service starts a new reminder). The text names make, model and year and may carry an
offer on the tag ("скидка 15% на замену масла до конца месяца", seed 004).

Trade-in: once per customer ever (occurrence "once"), when the car's age (profile year)
reaches ``tradein.age_years`` or its estimated mileage ``tradein.km``, or at once when the
customer presses "thinking about a new car?" (``jobs.car_interest``; the button is also
under every reminder).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ReminderRule
from bot.db.models import Customer
from bot.services.campaigns.treatment import REMINDER_PREFIX
from bot.services.context import Business
from bot.services.idempotency import Outcome
from bot.services.jobs.car_interest import (
    InterestNoted,
    button_on,
    interest_keyboard,
    interested,
    note_interest,
)
from bot.services.jobs.common import (
    Build,
    JobReport,
    Send,
    campaign_id,
    job_send,
    local_today,
    run_for,
)
from bot.services.jobs.selection import reminder_candidates, tradein_candidates
from bot.services.people.mileage import car_age_years, odometer

TRADEIN = "tradein"
TRADEIN_OCCURRENCE = "once"


def reminder_campaign(rule: ReminderRule) -> str:
    return f"{REMINDER_PREFIX}{rule.tag}"


def reminder_build(biz: Business, rule: ReminderRule, service_at: datetime) -> Build:
    async def build(session: AsyncSession, customer: Customer) -> Send:
        car = await odometer(session, customer.id)
        extra = {
            "service": rule.service[
                customer.language if customer.language in rule.service else "en"
            ],
            "tag": rule.tag,
            "service_day": service_at,
            "km_since": (car.at(biz.clock.now()) or 0) - (car.at(service_at) or 0)
            if car.known
            else None,
        }
        send = job_send(
            biz.settings, customer, "reminder", extra, offer=rule.offer, offer_tag=rule.tag
        )
        if button_on(biz.settings) and not await interested(session, customer.id):
            keyboard = interest_keyboard(biz, customer.language, "reminder")
            return replace(send, buttons=lambda _member, _locale: keyboard)
        return send

    return build


async def due_reminders(
    biz: Business, session: AsyncSession, rule: ReminderRule, now: datetime
) -> dict[int, datetime]:
    """customer id -> the service a reminder is due for today (within the catch-up)."""
    return await reminder_candidates(session, rule, biz.settings.reminders, now)


async def run_reminders(biz: Business) -> dict[str, int]:
    settings = biz.settings.reminders
    if not settings.enabled:
        return {}
    now = biz.clock.now()
    total = JobReport(job="reminders")
    zone = biz.settings.business.zone
    for rule in settings.rules:
        async with biz.db.read() as session:
            due = await due_reminders(biz, session, rule, now)
        if not due:
            continue
        campaign = await campaign_id(biz, reminder_campaign(rule))
        for customer_id, service_at in due.items():
            occurrence = service_at.astimezone(zone).date().isoformat()
            report = await run_for(
                biz,
                reminder_campaign(rule),
                [(customer_id, occurrence)],
                reminder_build(biz, rule, service_at),
                campaign=campaign,
            )
            total.candidates += report.candidates
            total.outcomes.update(report.outcomes)
    return total.as_dict()


def tradein_build(biz: Business, *, on_interest: bool = False) -> Build:
    """The trade-in offer: when the car passes a threshold, or ``on_interest`` (the customer
    pressed "thinking about a new car?") whatever its age and mileage."""
    rules = biz.settings.tradein

    async def build(session: AsyncSession, customer: Customer) -> Send | None:
        now = biz.clock.now()
        km = (await odometer(session, customer.id)).at(now)
        age = car_age_years(customer.profile, local_today(biz.settings, now))
        old = rules.age_years is not None and age is not None and age >= rules.age_years
        far = rules.km is not None and km is not None and km >= rules.km
        if not (old or far or on_interest):  # an older reading's run promised more
            return None
        extra = {"km": km if far else None, "age_years": age, "interested": on_interest}
        return job_send(biz.settings, customer, "tradein", extra, offer=biz.settings.tradein.offer)

    return build


async def run_tradein(biz: Business) -> dict[str, int]:
    rules = biz.settings.tradein
    if not rules.enabled or (rules.km is None and rules.age_years is None):
        return {}
    now = biz.clock.now()
    campaign = await campaign_id(biz, TRADEIN)
    async with biz.db.read() as session:
        ids = await tradein_candidates(
            session, rules, campaign, TRADEIN_OCCURRENCE, now, local_today(biz.settings, now)
        )
    report = await run_for(
        biz, TRADEIN, [(i, TRADEIN_OCCURRENCE) for i in ids], tradein_build(biz), campaign=campaign
    )
    return report.as_dict()


async def new_car_interest(
    biz: Business, key: str, tg_id: int, source: str
) -> Outcome[InterestNoted]:
    """The "thinking about a new car?" button: noted once and the business told (``car_interest``);
    then the one-time trade-in offer goes out at once (the campaign's usual checks: opt-in,
    treatment, holdout, once per customer ever)."""
    outcome = await note_interest(biz, key, tg_id, source)
    if not outcome.duplicate and biz.settings.tradein.enabled:
        campaign = await campaign_id(biz, TRADEIN)
        await run_for(
            biz, TRADEIN, [(outcome.result.customer_id, TRADEIN_OCCURRENCE)],
            tradein_build(biz, on_interest=True), campaign=campaign,
        )  # fmt: skip
    return outcome

"""Birthday and holiday greetings (seed 004: "поздравления с днем рождения и другими
праздниками ... с небольшими подарками или скидками").

- birthday: on the local day ``birthday.days_ahead`` before the birthday, a greeting with
  the configured gift (bonus points through the ledger, or an offer); once per customer per
  year (occurrence = the year of the birthday greeted). 29 February birthdays are greeted
  on 28 February in years without a 29th (``job_selection.birthday_dates``).
- holidays: on each date of ``holidays.calendar`` (local), its template
  (``jobs.holiday_<template>``) to every customer marketing may reach; once per customer
  per holiday (occurrence = the date).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Holiday
from bot.db.models import Customer
from bot.services.context import Business
from bot.services.jobs.common import (
    Build,
    Send,
    job_send,
    local_midnight,
    local_today,
    run_for,
)
from bot.services.jobs.selection import birthday_candidates, holiday_candidates

BIRTHDAY = "birthday"
HOLIDAYS = "holidays"


def birthday_build(biz: Business, now: datetime) -> Build:
    rules = biz.settings.birthday

    async def build(_session: AsyncSession, customer: Customer) -> Send:
        day = local_today(biz.settings, now) + timedelta(days=rules.days_ahead)
        extra = {
            "birthday": local_midnight(biz.settings, day),
            "days_ahead": rules.days_ahead,
            "points": 0,
        }
        return job_send(
            biz.settings, customer, "birthday", extra,
            points=rules.points if rules.gift == "points" else 0,
            offer=rules.offer if rules.gift == "offer" else None,
        )  # fmt: skip

    return build


async def run_birthdays(biz: Business) -> dict[str, int]:
    if not biz.settings.birthday.enabled:
        return {}
    now = biz.clock.now()
    day = local_today(biz.settings, now) + timedelta(days=biz.settings.birthday.days_ahead)
    async with biz.db.read() as session:
        ids = await birthday_candidates(session, day)
    occurrence = str(day.year)
    report = await run_for(biz, BIRTHDAY, [(i, occurrence) for i in ids], birthday_build(biz, now))
    return report.as_dict()


def holiday_today(biz: Business, now: datetime) -> Holiday | None:
    """Today's holiday (local date), if today is one."""
    today = local_today(biz.settings, now)
    for holiday in biz.settings.holidays.calendar:
        if holiday.date == today.strftime("%m-%d"):
            return holiday
    return None


def holiday_build(biz: Business, holiday: Holiday) -> Build:
    """The greeting with the holiday's own gift (points or an offer; the treatment table
    scales it per customer in ``common.deliver_one``)."""

    async def build(_session: AsyncSession, customer: Customer) -> Send:
        return job_send(
            biz.settings,
            customer,
            "holiday",
            template=f"jobs.holiday_{holiday.template}",
            points=holiday.points,
            offer=holiday.offer,
        )

    return build


async def run_holidays(biz: Business) -> dict[str, int]:
    if not biz.settings.holidays.enabled:
        return {}
    now = biz.clock.now()
    holiday = holiday_today(biz, now)
    if holiday is None:
        return {"candidates": 0}
    async with biz.db.read() as session:
        ids = await holiday_candidates(session)
    occurrence = local_today(biz.settings, now).isoformat()
    report = await run_for(
        biz, HOLIDAYS, [(i, occurrence) for i in ids], holiday_build(biz, holiday)
    )
    return report.as_dict()

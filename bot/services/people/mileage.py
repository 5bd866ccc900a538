"""Reported mileages and the estimate built on them: one home for "how far has the car gone".

Staff report an odometer reading at a visit (``/visit <customer> [service] km:<n>``); the
sign-up's ``profile.mileage`` is a reading at sign-up. A reading below the last one is
refused (a typo or another car), so readings only go up. The monthly run is learned from
the first and the newest reading once they are at least ``MIN_SPAN`` apart, capped at
``reminders.max_monthly_km``; before that it is ``reminders.default_monthly_km``. Each
reading stores the run estimated with it, so today's mileage is ``km + monthly_km x months
since`` (also in SQL, for the daily selection: ``projected_km_sql``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, cast, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.config import ReminderSettings
from bot.db.models import MileageReport, unix_seconds
from bot.services.errors import ServiceError

MONTH = timedelta(days=30.436875)  # the mean Gregorian month
MONTH_SECONDS = int(MONTH.total_seconds())
MIN_SPAN = timedelta(days=30)  # readings closer than this teach nothing about the run
PROFILE_FIELD = "mileage"  # the sign-up question whose answer is a reading


def check_km(km: int, settings: ReminderSettings) -> None:
    if not 0 <= km <= settings.max_km:
        raise ServiceError("bad_mileage", text=str(km), maximum=settings.max_km)


async def readings(session: AsyncSession, customer_id: int) -> list[MileageReport]:
    rows = await session.scalars(
        select(MileageReport)
        .where(MileageReport.customer_id == customer_id)
        .order_by(MileageReport.reported_at, MileageReport.id)
    )
    return list(rows)


def learned_run(
    first: MileageReport | None, km: int, at: datetime, settings: ReminderSettings
) -> int:
    """Km a month from the first reading to (km, at); the default until they are far apart."""
    if first is None or at - first.reported_at < MIN_SPAN:
        return first.monthly_km if first is not None else settings.default_monthly_km
    months = (at - first.reported_at) / MONTH
    return min(round((km - first.km) / months), settings.max_monthly_km)


async def report(
    session: AsyncSession,
    settings: ReminderSettings,
    customer_id: int,
    km: int,
    now: datetime,
    *,
    author_tg_id: int | None,
    visit_id: int | None = None,
) -> MileageReport:
    """Record a reading in the caller's transaction; ServiceError when it is out of range
    (bad_mileage) or below the last one (mileage_below_last): nothing is written then."""
    check_km(km, settings)
    history = await readings(session, customer_id)
    if history and km < history[-1].km:
        last = history[-1]
        raise ServiceError("mileage_below_last", km=km, last=last.km, at=last.reported_at)
    reading = MileageReport(
        customer_id=customer_id,
        km=km,
        reported_at=now,
        reported_ts=unix_seconds(now),
        monthly_km=learned_run(history[0] if history else None, km, now, settings),
        author_tg_id=author_tg_id,
        visit_id=visit_id,
    )
    session.add(reading)
    return reading


@dataclass(frozen=True)
class Odometer:
    """A customer's readings (oldest first), able to estimate the mileage at any moment."""

    points: tuple[tuple[datetime, int, int], ...]  # (at, km, monthly run)

    @classmethod
    def of(cls, rows: list[MileageReport]) -> Odometer:
        return cls(tuple((r.reported_at, r.km, r.monthly_km) for r in rows))

    @property
    def known(self) -> bool:
        return bool(self.points)

    @property
    def monthly_km(self) -> int | None:
        return self.points[-1][2] if self.points else None

    def at(self, moment: datetime) -> int | None:
        """Estimated mileage at ``moment`` (None without readings): the reading before it
        projected with its run; before the first, the first projected back (never below 0)."""
        if not self.points:
            return None
        before = [p for p in self.points if p[0] <= moment]
        at, km, run = before[-1] if before else self.points[0]
        if not before:
            run = self.points[-1][2]
        return max(0, km + round(run * ((moment - at) / MONTH)))


async def odometer(session: AsyncSession, customer_id: int) -> Odometer:
    return Odometer.of(await readings(session, customer_id))


def car_age_years(profile: dict[str, Any] | None, today: date) -> int | None:
    year = (profile or {}).get("year")
    return today.year - int(year) if isinstance(year, int) else None


def projected_km_at_least(km: int, now: datetime) -> ColumnElement[bool]:
    """SQL: the reading projected to ``now`` with its run reaches ``km`` (integer maths:
    km x month + run x seconds since >= threshold x month)."""
    elapsed = unix_seconds(now) - MileageReport.reported_ts
    wide = cast(MileageReport.km, BigInteger)  # PostgreSQL's integer would overflow
    return wide * MONTH_SECONDS + cast(MileageReport.monthly_km, BigInteger) * elapsed >= (
        km * MONTH_SECONDS
    )

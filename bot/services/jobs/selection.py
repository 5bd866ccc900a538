"""The daily selection pass: which customers each scheduled job looks at today.

Selection only (no sending; the jobs in ``bot.services.jobs_*`` decide and queue per
customer). Every query is portable SQL (SQLite and PostgreSQL) that an index answers, so
the pass stays within seconds on a million customers (bench/selection.py, migration 0015):

- birthdays: ``birthday IN (the day's month and day in every year of the age range)`` --
  a few hundred probes of ``ix_customers_birthday`` instead of a scan of every row. On
  28 February of a year without a 29th, the 29 February birthdays are included;
- reminders: services of one tag due today (``days`` after, or ``km`` at the customer's
  newest run estimate, within the catch-up window), found by time range
  (``ix_purchases_tag_created``, ``ix_visits_tag_created``, on Unix seconds) and not
  followed by a later one of the tag (``*_customer_tag``);
- trade-in: the car's year from the profile (JSON), or any reading projected to today with
  its run (``bot.services.people.mileage``; the job checks the newest one before sending), minus
  those who already had their offer;
- win-back: the scoring's own figures (customer_scores: purchases, days since the first and
  the last, P(alive)); the usual interval is theirs, (first - last) / (purchases - 1).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from bot.config import ReminderRule, ReminderSettings, Settings, TradeInSettings, WinBackSettings
from bot.db.models import (
    CampaignMember,
    Customer,
    CustomerScore,
    MileageReport,
    Purchase,
    Visit,
    unix_seconds,
)
from bot.services.jobs import churn
from bot.services.money.live_purchases import is_live_of
from bot.services.people.mileage import MONTH_SECONDS, projected_km_at_least

OLDEST_AGE_YEARS = 150  # the birthday probe covers this many years back
DAY = 86_400


def marketable() -> ColumnElement[bool]:
    """Customers marketing may reach at all (contact.reach decides finally, per message)."""
    return and_(
        Customer.telegram_id.is_not(None),
        Customer.erased_at.is_(None),
        Customer.signup_step.is_(None),
        Customer.unreachable_at.is_(None),
        Customer.marketing_opt_in.is_(True),
    )


def birthday_dates(day: date) -> list[date]:
    """The birth dates celebrated on ``day``: its month and day in every year back to
    ``OLDEST_AGE_YEARS``; on 28 February of a common year also every 29 February."""
    found: list[date] = []
    for year in range(day.year - OLDEST_AGE_YEARS, day.year + 1):
        if (day.month, day.day) == (2, 29) and not calendar.isleap(year):
            continue
        found.append(day.replace(year=year))
        leap_day_moved = (day.month, day.day) == (2, 28) and not calendar.isleap(day.year)
        if leap_day_moved and calendar.isleap(year):
            found.append(date(year, 2, 29))
    return found


async def birthday_candidates(session: AsyncSession, day: date) -> list[int]:
    rows = await session.scalars(
        select(Customer.id)
        .where(Customer.birthday.in_(birthday_dates(day)), marketable())
        .order_by(Customer.id)
    )
    return list(rows)


async def holiday_candidates(session: AsyncSession) -> list[int]:
    return list(
        await session.scalars(select(Customer.id).where(marketable()).order_by(Customer.id))
    )


def latest_run(customer_id: Any, default_km: int) -> ColumnElement[int]:
    """SQL: the customer's monthly run as estimated with their newest reading (the default
    run without readings)."""
    newest = (
        select(MileageReport.monthly_km)
        .where(MileageReport.customer_id == customer_id)
        .order_by(MileageReport.reported_at.desc(), MileageReport.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return cast(func.coalesce(newest, default_km), BigInteger)


def _due(
    model: type[Purchase] | type[Visit],
    rule: ReminderRule,
    settings: ReminderSettings,
    now_ts: int,
) -> ColumnElement[bool]:
    """Due within the catch-up window: ``days`` after the service, or when ``km`` are run
    since it at the customer's newest run estimate, whichever comes first."""
    catch_up = settings.catch_up_days * DAY
    ts = model.created_ts
    due: list[ColumnElement[bool]] = []
    if rule.days is not None:
        first, last = now_ts - (rule.days * DAY + catch_up), now_ts - rule.days * DAY
        due.append(and_(ts >= first, ts <= last))
    if rule.km is not None:
        run = latest_run(model.customer_id, settings.default_monthly_km)
        goal = rule.km * MONTH_SECONDS
        soonest = now_ts - rule.km * MONTH_SECONDS // settings.max_monthly_km
        window = (rule.days or 3650) * DAY + catch_up
        km_due = [ts <= soonest, ts >= now_ts - window]
        # Within the window only a run of at least this much reaches km: when the default
        # run is slower, only customers with a reading that fast can be due by km (a cheap
        # semi-join before the per-service look-up of the newest run).
        slowest = -(-goal // window)
        if settings.default_monthly_km < slowest:
            fast = select(MileageReport.customer_id).where(MileageReport.monthly_km >= slowest)
            km_due.append(model.customer_id.in_(fast))
        km_due += [run * (now_ts - ts) >= goal, run * (now_ts - catch_up - ts) < goal]
        due.append(and_(*km_due))
    return or_(*due)


def _last_services(
    rule: ReminderRule, settings: ReminderSettings, now_ts: int
) -> list[Select[tuple[int, int]]]:
    """Per table: services of the rule's tag due today (within the catch-up window) with no
    later service of the tag (a live purchase or a visit)."""
    tag = rule.tag
    later_purchase, later_visit = aliased(Purchase), aliased(Visit)

    def no_later(model: type[Purchase] | type[Visit]) -> list[ColumnElement[bool]]:
        return [
            ~exists().where(
                later_purchase.customer_id == model.customer_id,
                later_purchase.service_tag == tag,
                later_purchase.created_ts > model.created_ts,
                is_live_of(later_purchase),
            ),
            ~exists().where(
                later_visit.customer_id == model.customer_id,
                later_visit.service_tag == tag,
                later_visit.created_ts > model.created_ts,
            ),
        ]

    selects = []
    for model in (Purchase, Visit):
        live = [is_live_of(Purchase)] if model is Purchase else []
        selects.append(
            select(model.customer_id, model.created_ts).where(
                model.service_tag == tag,
                _due(model, rule, settings, now_ts),
                *live,
                *no_later(model),
            )
        )
    return selects


async def reminder_candidates(
    session: AsyncSession, rule: ReminderRule, settings: ReminderSettings, now: datetime
) -> dict[int, datetime]:
    """customer id -> their last service of the rule's tag, when a reminder is due today."""
    now_ts = unix_seconds(now)
    services = union_all(*_last_services(rule, settings, now_ts)).subquery()
    rows = await session.execute(
        select(services.c.customer_id, services.c.created_ts)
        .join(Customer, Customer.id == services.c.customer_id)
        .where(marketable())
    )
    return {customer_id: datetime.fromtimestamp(ts, UTC) for customer_id, ts in rows.all()}


def _not_enrolled(campaign_id: int, occurrence: str) -> ColumnElement[bool]:
    return ~exists().where(
        CampaignMember.campaign_id == campaign_id,
        CampaignMember.customer_id == Customer.id,
        CampaignMember.occurrence == occurrence,
    )


async def tradein_candidates(
    session: AsyncSession,
    rules: TradeInSettings,
    campaign_id: int,
    occurrence: str,
    now: datetime,
    today: date,
) -> list[int]:
    found: set[int] = set()
    if rules.age_years is not None:
        text = Customer.profile["year"].as_string()
        # anything but four digits is no year (a text field, an imported value): no cast
        # error on PostgreSQL, no accidental 0 on SQLite
        year = case((text.regexp_match("^[0-9]{4}$"), cast(text, Integer)), else_=None)
        rows = await session.scalars(
            select(Customer.id).where(
                marketable(),
                Customer.profile.is_not(None),
                year <= today.year - rules.age_years,
                _not_enrolled(campaign_id, occurrence),
            )
        )
        found.update(rows)
    if rules.km is not None:
        rows = await session.scalars(
            select(MileageReport.customer_id)
            .join(Customer, Customer.id == MileageReport.customer_id)
            .where(
                marketable(),
                projected_km_at_least(rules.km, now),
                _not_enrolled(campaign_id, occurrence),
            )
        )
        found.update(rows)
    return sorted(found)


def usual_gap_exceeded(rules: WinBackSettings, elapsed_days: float) -> ColumnElement[bool]:
    """SQL over customer_scores: days since the last purchase (plus ``elapsed_days`` since
    the scores were computed) exceed ``interval_factor`` times the customer's own mean
    interval, (days since first - days since last) / (purchases - 1), and ``min_days``."""
    since_last = CustomerScore.days_since_last + elapsed_days
    own_span = CustomerScore.days_since_first - CustomerScore.days_since_last
    return and_(
        CustomerScore.purchases >= rules.min_purchases,
        since_last >= rules.min_days,
        since_last * (CustomerScore.purchases - 1) > rules.interval_factor * own_span,
    )


async def winback_candidates(
    session: AsyncSession,
    rules: WinBackSettings,
    campaign_id: int,
    occurrence: str,
    now: datetime,
) -> list[int]:
    computed = await session.scalar(select(CustomerScore.computed_at).limit(1))
    if computed is None:
        return []
    computed = computed if computed.tzinfo else computed.replace(tzinfo=UTC)
    elapsed = max((now - computed) / timedelta(days=1), 0.0)
    drifting = [usual_gap_exceeded(rules, elapsed)]
    if rules.p_alive_below > 0:
        drifting.append(
            and_(
                CustomerScore.p_alive < rules.p_alive_below,
                CustomerScore.days_since_last + elapsed >= rules.min_days,
            )
        )
    rows = await session.scalars(
        select(CustomerScore.customer_id)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(
            marketable(),
            or_(*drifting),
            _not_enrolled(campaign_id, occurrence),
            ~churn.stopped(rules),  # their answer to an earlier message said "stop"
        )
        .order_by(CustomerScore.customer_id)
    )
    return list(rows)


async def selection_pass(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    campaigns: dict[str, int],
    timings: dict[str, float] | None = None,
) -> dict[str, int]:
    """The whole daily pass (what bench/selection.py times): candidates per job.

    ``campaigns``: job name -> campaign id (the trade-in and win-back exclusions);
    ``timings``, when given, receives the seconds each job's selection took.
    """
    from bot.services.jobs.common import local_today, window_start

    today = local_today(settings, now)
    clock = perf_counter()
    spent = timings if timings is not None else {}

    def lap(job: str) -> None:
        nonlocal clock
        spent[job] = perf_counter() - clock
        clock = perf_counter()

    counts = {"birthday": len(await birthday_candidates(session, today))}
    lap("birthday")
    reminders = 0
    for rule in settings.reminders.rules:
        reminders += len(await reminder_candidates(session, rule, settings.reminders, now))
    counts["reminders"] = reminders
    lap("reminders")
    counts["tradein"] = len(
        await tradein_candidates(
            session, settings.tradein, campaigns.get("tradein", 0), "once", now, today
        )
    )
    lap("tradein")
    counts["winback"] = len(
        await winback_candidates(
            session,
            settings.winback,
            campaigns.get("winback", 0),
            window_start(settings.winback.window_days, today).isoformat(),
            now,
        )
    )
    lap("winback")
    return counts

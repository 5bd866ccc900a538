"""Retention KPIs for the owner (seed 004): CRR, churn, repeat rate, frequency, check."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select

import scoring
from bot.db.models import Customer, Purchase
from bot.services.context import Business
from bot.services.scoring_aggregates import (
    AMOUNT_MINOR,
    DAY_S,
    NET_MINOR,
    REFUNDED_MINOR,
    fetch_int64,
    unix_seconds_sql,
    utc_offset_s,
)

MAX_PERIOD_DAYS = 3650


async def period_report(biz: Business, days: int) -> scoring.PeriodKPI:
    """The last ``days`` days up to today in the business's time zone, from every purchase
    not fully refunded (history before the period tells who was new and who was active)."""
    zone = biz.settings.business.zone
    today = biz.clock.now().astimezone(zone).date()
    end = today + timedelta(days=1)
    start = end - timedelta(days=days)
    offset = utc_offset_s(biz.clock.now(), zone)
    local_day = (Purchase.created_ts + offset) // DAY_S
    async with biz.db.engine.connect() as conn:
        data = await fetch_int64(
            conn,
            select(Purchase.customer_id, local_day, NET_MINOR).where(
                REFUNDED_MINOR < AMOUNT_MINOR
            ),
        )
        # A referral is dated by the day the referred customer joined.
        referred = await fetch_int64(
            conn,
            select(
                (unix_seconds_sql(conn, Customer.created_at) + offset) // DAY_S
            ).where(Customer.referred_by.is_not(None)),
        )
    return scoring.period_kpis(
        data[:, 0],
        data[:, 1],
        data[:, 2] / 100.0,
        start=np.datetime64(start, "D"),
        end=np.datetime64(end, "D"),
        active_window_days=biz.settings.scoring.active_window_days,
        referral_dates=referred[:, 0],
    )

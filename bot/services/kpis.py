"""Retention KPIs for the owner (seed 004): CRR, churn, repeat rate, frequency, check."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select

import scoring
from bot.db.models import Purchase
from bot.services.context import Business
from bot.services.scoring_job import AMOUNT_MINOR, NET_MINOR, REFUNDED_MINOR, epoch_days

MAX_PERIOD_DAYS = 3650


async def period_report(biz: Business, days: int) -> scoring.PeriodKPI:
    """The last ``days`` days up to today in the business's time zone, from every purchase
    not fully refunded (history before the period tells who was new and who was active)."""
    zone = biz.settings.business.zone
    today = biz.clock.now().astimezone(zone).date()
    end = today + timedelta(days=1)
    start = end - timedelta(days=days)
    async with biz.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Purchase.customer_id, epoch_days(conn, Purchase.created_at), NET_MINOR
                ).where(REFUNDED_MINOR < AMOUNT_MINOR)
            )
        ).all()
    data = np.array(rows, dtype=np.float64).reshape(-1, 3)
    offset = biz.clock.now().astimezone(zone).utcoffset() or timedelta(0)
    local_day = np.floor(data[:, 1] + offset.total_seconds() / 86400.0).astype(np.int64)
    return scoring.period_kpis(
        data[:, 0].astype(np.int64),
        local_day,
        data[:, 2] / 100.0,
        start=np.datetime64(start, "D"),
        end=np.datetime64(end, "D"),
        active_window_days=biz.settings.scoring.active_window_days,
    )

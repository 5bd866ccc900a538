"""The daily jobs the bot process runs; each feature adds its entry here."""

from __future__ import annotations

from typing import Any

from bot.scheduler import DailyJob
from bot.services.context import Business
from bot.services.insight import anomaly_scan
from bot.services.jobs import car as jobs_car
from bot.services.jobs import greetings as jobs_greetings
from bot.services.jobs import winback as jobs_winback
from bot.services.members import retention
from bot.services.money import expiry, tier_keeping, tiers


async def rescore(biz: Business) -> Any:
    """The nightly rescore. Its module (numpy and every model) loads on the first run, not
    at the bot's start."""
    from bot.services.insight.scoring_job import run_nightly

    return await run_nightly(biz)


DAILY_JOBS: list[DailyJob] = [
    DailyJob(id="rescore", at=lambda s: s.scoring.nightly_at, run=rescore),
    DailyJob(id="tiers", at=lambda s: s.tiers.recheck_at, run=tiers.run_daily),
    DailyJob(id="expiry", at=lambda s: s.expiry.run_at, run=expiry.run_daily),
    DailyJob(id="tier_keep", at=lambda s: s.tiers.keep_notice_at, run=tier_keeping.run_daily),
    DailyJob(id="retention", at=lambda s: s.privacy.prune_at, run=retention.prune_processed),
    DailyJob(id="birthday", at=lambda s: s.birthday.run_at, run=jobs_greetings.run_birthdays),
    DailyJob(id="holidays", at=lambda s: s.holidays.run_at, run=jobs_greetings.run_holidays),
    DailyJob(id="reminders", at=lambda s: s.reminders.run_at, run=jobs_car.run_reminders),
    DailyJob(id="tradein", at=lambda s: s.tradein.run_at, run=jobs_car.run_tradein),
    DailyJob(id="winback", at=lambda s: s.winback.run_at, run=jobs_winback.run_winback),
    DailyJob(
        id="staff_anomalies",
        at="00:00",  # unused: every few minutes
        run=anomaly_scan.scan,
        every_minutes=lambda s: s.controls.scan_every_minutes,
    ),
]

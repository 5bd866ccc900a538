"""The daily jobs the bot process runs; each feature adds its entry here."""

from __future__ import annotations

from bot.scheduler import DailyJob
from bot.services import expiry, retention, tiers
from bot.services.scoring_job import run_nightly

DAILY_JOBS: list[DailyJob] = [
    DailyJob(id="rescore", at=lambda s: s.scoring.nightly_at, run=run_nightly),
    DailyJob(id="tiers", at=lambda s: s.tiers.recheck_at, run=tiers.run_daily),
    DailyJob(id="expiry", at=lambda s: s.expiry.run_at, run=expiry.run_daily),
    DailyJob(id="retention", at=lambda s: s.privacy.prune_at, run=retention.prune_processed),
]

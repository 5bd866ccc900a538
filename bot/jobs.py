"""The daily jobs the bot process runs; each feature adds its entry here."""

from __future__ import annotations

from bot.scheduler import DailyJob

DAILY_JOBS: list[DailyJob] = []

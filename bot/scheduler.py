"""Daily jobs on APScheduler 3 (AsyncIOScheduler), in the business's time zone.

Jobs carry no pickled state: each is a coroutine function taking the `Business`, found
through the closure. Idempotency of what a job does lives in our own tables (dedupe keys),
not in the job store, so a restart that reruns a job sends nothing twice. One process owns
the scheduler (shared/ENGINEERING.md: a job store is never shared between processes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings
from bot.services.context import Business

log = logging.getLogger(__name__)

JobFunction = Callable[[Business], Awaitable[Any]]


@dataclass(frozen=True)
class DailyJob:
    """``at`` is "HH:MM" in the business time zone, or reads it from the settings; a job
    with ``every_minutes`` runs at that interval instead (``at`` unused)."""

    id: str
    at: str | Callable[[Settings], str]
    run: JobFunction
    every_minutes: Callable[[Settings], int] | None = None

    def time_of_day(self, settings: Settings) -> tuple[int, int]:
        value = self.at(settings) if callable(self.at) else self.at
        hour, minute = value.split(":")
        return int(hour), int(minute)


def build_scheduler(
    biz: Business, jobs: Sequence[DailyJob], running: set[asyncio.Task[Any]] | None = None
) -> AsyncIOScheduler:
    """``running``, when given, holds the task of every job while it runs (so a worker
    that loses its lease can cancel them)."""
    zone = biz.settings.business.zone
    # APScheduler logs two lines per job added and two per run; ours are one line for
    # the whole set here and one per run in _logged.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(timezone=zone)
    times = []
    for job in jobs:
        trigger: CronTrigger | IntervalTrigger
        if job.every_minutes is not None:
            every = job.every_minutes(biz.settings)
            times.append(f"{job.id} every {every} min")
            trigger = IntervalTrigger(minutes=every, timezone=zone)
        else:
            hour, minute = job.time_of_day(biz.settings)
            times.append(f"{job.id} {hour:02d}:{minute:02d}")
            trigger = CronTrigger(hour=hour, minute=minute, timezone=zone)
        scheduler.add_job(
            _logged(job, biz, running if running is not None else set()),
            trigger,
            id=job.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
    log.info("scheduler: %d daily jobs (%s), %s time", len(times), ", ".join(times), zone)
    return scheduler


def _logged(
    job: DailyJob, biz: Business, running: set[asyncio.Task[Any]]
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        log.info("job %s started", job.id)
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        try:
            result = await job.run(biz)
        except Exception:
            log.exception("job %s failed", job.id)
            return
        finally:
            running.discard(task)  # type: ignore[arg-type]
        log.info("job %s finished: %s", job.id, result)

    return run

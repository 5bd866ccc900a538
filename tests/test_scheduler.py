"""Daily jobs run at the configured local time of the business (SPEC.md: store UTC, show
and schedule in the business's time zone)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from bot.jobs import DAILY_JOBS
from bot.scheduler import DailyJob, build_scheduler
from bot.services.context import Business
from tests.conftest import make_settings
from tests.support.harness import App


async def test_nightly_rescore_scheduled_in_business_time(app: App, db_url: str) -> None:
    settings = make_settings(db_url, scoring={"nightly_at": "03:30"})
    biz = app.variant(settings).biz
    scheduler = build_scheduler(biz, DAILY_JOBS)
    job = scheduler.get_job("rescore")
    assert job is not None
    # 03:30 in Moscow (UTC+3) is 00:30 UTC; from noon UTC on 15 January the next run is
    # 00:30 UTC on the 16th.
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2026, 1, 16, 0, 30, tzinfo=UTC)


async def test_a_running_job_is_known_so_a_worker_losing_its_lease_can_cancel_it(
    app: App,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(biz: Business) -> None:
        started.set()
        await release.wait()

    running: set[asyncio.Task[Any]] = set()
    scheduler = build_scheduler(app.biz, [DailyJob("slow", "01:00", slow)], running)
    task = asyncio.create_task(scheduler.get_job("slow").func())
    await started.wait()
    assert running == {task}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and running == set()

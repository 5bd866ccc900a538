"""Campaign enrolment and holdout on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.db.models import CampaignMember
from bot.services.campaigns import enrolment as campaigns
from tests.conftest import BACKENDS
from tests.support.seed_data import add_customer

on_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def test_the_holdout_is_the_configured_share_and_stable() -> None:
    held = [campaigns.is_held_out(7, customer, 10) for customer in range(20_000)]
    share = sum(held) / len(held)
    # Binomial(20000, 0.1): sd = 0.0021, so 0.09..0.11 is nearly five sd either side.
    assert 0.09 < share < 0.11
    assert held == [campaigns.is_held_out(7, customer, 10) for customer in range(20_000)]
    other = [campaigns.is_held_out(8, customer, 10) for customer in range(20_000)]
    assert held != other  # each campaign draws its own group
    assert not any(campaigns.is_held_out(7, c, 0) for c in range(1000))
    assert sum(campaigns.is_held_out(7, c, 50) for c in range(1000)) in range(440, 561)


@on_backends
async def test_enrolment_is_once_per_occurrence(database: Database, clock: FrozenClock) -> None:
    now = clock.now()
    ivan = await add_customer(database, now, "Ivan")
    async with database.write() as session:
        job = await campaigns.job_campaign(session, "birthday", now=now, holdout_percent=10)
        first = await campaigns.enrol(session, job, ivan, "2026", now=now)
        again = await campaigns.enrol(session, job, ivan, "2026", now=now)
        next_year = await campaigns.enrol(session, job, ivan, "2027", now=now)
    assert first is not None and again is None and next_year is not None
    assert first.held_out == campaigns.is_held_out(job.id, ivan, 10)
    async with database.write() as session:  # a rerun finds the same campaign and member
        same = await campaigns.job_campaign(session, "birthday", now=now, holdout_percent=10)
        assert same.id == job.id
        assert await campaigns.enrol(session, same, ivan, "2026", now=now) is None
        count = await session.scalar(select(func.count(CampaignMember.id)))
    assert count == 2
    assert campaigns.source_of(job.id) == f"campaign:{job.id}"

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
    assert first.held_out == campaigns.is_held_out(job.id, ivan, 10, "2026")
    async with database.write() as session:  # a rerun finds the same campaign and member
        same = await campaigns.job_campaign(session, "birthday", now=now, holdout_percent=10)
        assert same.id == job.id
        assert await campaigns.enrol(session, same, ivan, "2026", now=now) is None
        count = await session.scalar(select(func.count(CampaignMember.id)))
    assert count == 2
    assert campaigns.source_of(job.id) == f"campaign:{job.id}"


def test_recurring_holdout_is_drawn_per_occurrence() -> None:
    """Seed 004: «поздравления с днем рождения и другими праздниками» reach every customer:
    a numbered occurrence (a birthday's year) turns the holdout ring by its own width, so
    of 20,000 customers nobody is held out two years running, each year holds out ~10 %,
    and the draw is the same on a rerun. Dated occurrences draw afresh per date."""
    years = {
        y: {c for c in range(20_000) if campaigns.is_held_out(7, c, 10, str(y))}
        for y in (2027, 2028, 2029)
    }
    for y in years:
        assert 1_800 < len(years[y]) < 2_200
        assert years[y] == {c for c in range(20_000) if campaigns.is_held_out(7, c, 10, str(y))}
    assert not years[2027] & years[2028] and not years[2028] & years[2029]
    for percent in (1, 33, 50):  # up to the configured maximum
        a = {c for c in range(5_000) if campaigns.is_held_out(3, c, percent, "41")}
        b = {c for c in range(5_000) if campaigns.is_held_out(3, c, percent, "42")}
        assert not a & b
    dated = [
        {c for c in range(20_000) if campaigns.is_held_out(7, c, 10, d)}
        for d in ("2027-03-08", "2027-05-09")
    ]
    assert 1_800 < len(dated[0]) < 2_200 and len(dated[0] & dated[1]) < 400  # independent: ~1 %

"""The scoring job's SQL side: purchases.created_ts, local days, trailing months, the
covering index, and a run that fails is recorded as failed with the old scores kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import create_engine, select, text

from bot.db.models import CustomerScore, Purchase, ScoringRun
from bot.services.insight.scoring_aggregates import (
    DAY_S,
    aggregate,
    fetch_int64,
    parse_binary_copy,
    purchases_statement,
)
from bot.services.insight.scoring_job import ScoringBusyError, reclassify, run_nightly
from bot.services.local_days import LocalDays
from tests.conftest import BACKENDS, make_settings
from tests.support.harness import App
from tests.support.seed_data import add_customer

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3 all year: the test settings' zone


def _at(local: datetime) -> datetime:
    return local.replace(tzinfo=MOSCOW).astimezone(UTC)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_created_ts_is_filled_from_created_at(app: App) -> None:
    """Every ORM insert stores created_at again as whole Unix seconds."""
    now = app.clock.now()
    await add_customer(app.biz.db, now, "A", purchases=[(1.5, "10"), (0.25, "20")])
    async with app.biz.db.read() as session:
        rows = (await session.execute(select(Purchase.created_at, Purchase.created_ts))).all()
    assert len(rows) == 2
    for created_at, created_ts in rows:
        assert created_ts == int(created_at.timestamp())


async def test_sqlite_groups_purchases_on_the_covering_index(app: App) -> None:
    """The GROUP BY walks ix_purchases_scoring in customer order: no table lookups, no
    sort of all purchases (the reason the job meets its time at ten million rows)."""
    days = LocalDays.around(MOSCOW, app.clock.now())
    stmt = purchases_statement(app.clock.now(), days, with_months=True)
    engine = create_engine(app.biz.db.engine.url.set(drivername="sqlite"))
    with engine.connect() as conn:
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    engine.dispose()
    assert "USING COVERING INDEX ix_purchases_scoring" in plan, plan
    assert "TEMP B-TREE FOR GROUP BY" not in plan, plan


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_purchase_days_are_local_calendar_days(app: App) -> None:
    """Two purchases on one Moscow day but two UTC days make one purchase day; two on
    one UTC day but two Moscow days make two (the business's time zone decides)."""
    app.clock.current = _at(datetime(2026, 1, 20, 12, 0))
    now = app.clock.now()
    times = [
        _at(datetime(2026, 1, 10, 0, 30)),  # 9 January 21:30 UTC
        _at(datetime(2026, 1, 10, 23, 0)),  # 10 January 20:00 UTC
        _at(datetime(2026, 1, 11, 0, 10)),  # 10 January 21:10 UTC
    ]
    cid = await add_customer(
        app.biz.db, now, "A", purchases=[((now - t) / timedelta(days=1), "100") for t in times]
    )
    days = LocalDays.around(app.biz.settings.business.zone, now)
    async with app.biz.db.engine.connect() as conn:
        agg = await aggregate(conn, now, days, with_months=False)
    i = int(np.flatnonzero(agg.customer_id == cid)[0])
    jan10 = (datetime(2026, 1, 10) - datetime(1970, 1, 1)).days
    assert (agg.purchases[i], agg.purchase_days[i]) == (3, 2)
    assert (agg.first_day[i], agg.last_day[i]) == (jan10, jan10 + 1)
    assert days.day_of(now) == jan10 + 10
    assert agg.spend_minor[i] == 30000 and agg.monthly_minor is None


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_trailing_months_in_the_same_pass(app: App) -> None:
    """Twelve trailing calendar months ending now, oldest first, net of refunds; older and
    fully refunded purchases count nowhere, a partial refund counts net. (Each purchase
    lies mid-month: 30.44 days is only a way to place them.)"""
    now = app.clock.now()
    month_days = 30.44
    a = await add_customer(
        app.biz.db,
        now,
        "A",
        purchases=[
            (0.5, "10"),  # this month (index 11)
            (month_days * 11.5, "20"),  # the oldest month (index 0)
            (month_days * 12.5, "40"),  # older than the window: total only
            (month_days * 3.5, "5.50"),  # index 8
        ],
    )
    b = await add_customer(app.biz.db, now, "B", purchases=[(2, "99")], refunded=True)
    async with app.biz.db.write() as session:
        latest = await session.scalar(
            select(Purchase).where(Purchase.customer_id == a).order_by(Purchase.id.desc())
        )
        assert latest is not None
        latest.refunded_amount = Decimal("0.50")
    async with app.biz.db.engine.connect() as conn:
        agg = await aggregate(conn, now, LocalDays.around(MOSCOW, now), with_months=True)
    assert agg.monthly_minor is not None
    rows = {int(c): k for k, c in enumerate(agg.customer_id)}
    expected = np.zeros(12, dtype=np.int64)
    expected[[0, 8, 11]] = [2000, 500, 1000]
    assert agg.monthly_minor[rows[a]].tolist() == expected.tolist()
    assert agg.spend_minor[rows[a]] == 2000 + 4000 + 500 + 1000
    assert agg.monthly_minor[rows[b]].tolist() == [0] * 12 and agg.purchases[rows[b]] == 0


async def test_a_failed_run_is_recorded_and_keeps_the_previous_scores(app: App) -> None:
    """The database refuses the write (a trigger stands in for a full disk): the run is
    marked failed, the error propagates, and yesterday's rows are untouched."""
    now = app.clock.now()
    await add_customer(app.biz.db, now, "A", purchases=[(3, "100"), (40, "200")])
    await reclassify(app.biz)
    async with app.biz.db.read() as session:
        before = [
            (s.customer_id, s.computed_at) for s in await session.scalars(select(CustomerScore))
        ]
    async with app.biz.db.engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TRIGGER no_scores BEFORE UPDATE ON customer_scores "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    app.clock.advance(timedelta(days=1))
    with pytest.raises(Exception, match="disk full"):
        await reclassify(app.biz)
    async with app.biz.db.read() as session:
        runs = list(await session.scalars(select(ScoringRun).order_by(ScoringRun.id)))
        after = [
            (s.customer_id, s.computed_at) for s in await session.scalars(select(CustomerScore))
        ]
    assert [r.status for r in runs] == ["done", "failed"]
    assert runs[1].finished_at is not None and runs[1].details == {"error": "IntegrityError"}
    assert after == before


async def test_owner_is_told_when_rescore_fails(app: App) -> None:
    await add_customer(app.biz.db, app.clock.now(), "A", purchases=[(3, "100")])
    async with app.biz.db.engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TRIGGER no_scores BEFORE INSERT ON customer_scores "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    await app.owner.send("/rescore")
    await app.dp["background"].wait()
    assert "Reclassification failed" in app.fake.texts(1000)[-1]
    async with app.biz.db.read() as session:
        statuses = list(await session.scalars(select(ScoringRun.status)))
    assert statuses == ["failed"]


def _copy_bytes(rows: list[list[int | None]], extension: bytes = b"") -> bytes:
    """PostgreSQL's binary COPY format, written by hand from its documentation."""
    out = bytearray(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big"))
    out += len(extension).to_bytes(4, "big") + extension
    for row in rows:
        out += len(row).to_bytes(2, "big")
        for value in row:
            if value is None:
                out += (-1).to_bytes(4, "big", signed=True)
            else:
                out += (8).to_bytes(4, "big") + value.to_bytes(8, "big", signed=True)
    return bytes(out + b"\xff\xff")


def test_binary_copy_parsing() -> None:
    """Rows, a header extension, negative values; NULLs, a wrong width and a missing
    trailer are refused rather than misread."""
    rows = [[1, -2, 3], [2**40, 0, -(2**62)]]
    assert parse_binary_copy(_copy_bytes(rows), 3).tolist() == rows
    assert parse_binary_copy(_copy_bytes(rows, extension=b"future!"), 3).tolist() == rows
    assert parse_binary_copy(_copy_bytes([]), 3).shape == (0, 3)
    for bad, width in (
        (_copy_bytes([[1, None, 3]]), 3),
        (_copy_bytes(rows), 2),
        (_copy_bytes(rows)[:-2], 3),
        (b"COPY" + _copy_bytes(rows)[4:], 3),
    ):
        with pytest.raises(ValueError):
            parse_binary_copy(bad, width)


BERLIN = ZoneInfo("Europe/Berlin")


def test_local_days_follow_daylight_saving() -> None:
    """Berlin's 2025 clock changes are found to the second; every hour of two years maps
    to the day Python's zoneinfo gives, in SQL arithmetic (mirrored in numpy here)."""
    now = datetime(2026, 1, 15, 12, tzinfo=UTC)
    days = LocalDays.around(BERLIN, now)
    spring = int(datetime(2025, 3, 30, 1, tzinfo=UTC).timestamp())
    autumn = int(datetime(2025, 10, 26, 1, tzinfo=UTC).timestamp())
    assert spring in days.starts and autumn in days.starts
    at = days.starts.index(spring)
    assert days.offsets[at - 1 : at + 1] == (3600, 7200)
    ts = np.arange(int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()), autumn + 86400 * 90, 1800)
    ours = (ts + days.offsets_of(ts)) // DAY_S
    epoch = datetime(1970, 1, 1).date()
    python = [(datetime.fromtimestamp(int(t), BERLIN).date() - epoch).days for t in ts]
    assert ours.tolist() == python
    assert LocalDays.around(ZoneInfo("UTC"), now).offsets == (0,)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_purchase_days_in_summer_time(app: App, db_url: str) -> None:
    """Berlin: 23:30 local on 1 July is 21:30 UTC (summer time, +2), 00:30 local on
    2 July is 22:30 UTC: two local days, however close in UTC. With the winter offset
    (+1) applied to all history, as before, both would be 1 July."""
    biz = app.variant(make_settings(db_url, business={"timezone": "Europe/Berlin"})).biz
    app.clock.current = datetime(2026, 1, 15, 12, tzinfo=UTC)
    now = app.clock.now()
    times = [datetime(2025, 7, 1, 21, 30, tzinfo=UTC), datetime(2025, 7, 1, 22, 30, tzinfo=UTC)]
    cid = await add_customer(
        biz.db, now, "A", purchases=[((now - t) / timedelta(days=1), "10") for t in times]
    )
    async with biz.db.engine.connect() as conn:
        agg = await aggregate(conn, now, LocalDays.around(BERLIN, now), with_months=False)
    i = int(np.flatnonzero(agg.customer_id == cid)[0])
    july1 = (datetime(2025, 7, 1) - datetime(1970, 1, 1)).days
    assert (agg.purchase_days[i], agg.first_day[i], agg.last_day[i]) == (2, july1, july1 + 1)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_one_reclassification_at_a_time(app: App) -> None:
    """Two runs started together: one scores, the other is refused as busy (each run
    holds the whole history in memory); a run left 'running' by a crash long ago does not
    block, a fresh one does, and the nightly job skips instead of failing."""
    await add_customer(app.biz.db, app.clock.now(), "A", purchases=[(3, "100"), (40, "200")])
    results = await asyncio.gather(reclassify(app.biz), reclassify(app.biz), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["ScoringBusyError", "ScoringSummary"]

    now = app.clock.now()
    async with app.biz.db.write() as session:
        stale = ScoringRun(started_at=now - timedelta(hours=2), status="running", customers=0)
        session.add(stale)
    assert (await reclassify(app.biz)).customers == 1
    async with app.biz.db.write() as session:
        session.add(
            ScoringRun(started_at=now - timedelta(minutes=5), status="running", customers=0)
        )
    with pytest.raises(ScoringBusyError):
        await reclassify(app.biz)
    assert await run_nightly(app.biz) is None
    async with app.biz.db.read() as session:
        statuses = sorted(await session.scalars(select(ScoringRun.status)))
    assert statuses == ["done", "done", "running", "running"]


async def test_owner_is_told_when_a_rescore_is_already_running(app: App) -> None:
    async with app.biz.db.write() as session:
        session.add(ScoringRun(started_at=app.clock.now(), status="running", customers=0))
    await app.owner.send("/rescore")
    await app.dp["background"].wait()
    edits = app.fake.calls("editMessageText")
    assert edits and "already running" in edits[-1].params["text"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_first_day_spend_both_ways(app: App) -> None:
    """The first purchase day's net spend, by the index seek (SQLite's way) and by the
    window (PostgreSQL's), agree on either backend: two receipts on the first day (one
    partly refunded), one fully refunded receipt before them that does not count, later
    days that do not either."""
    now = app.clock.now()
    a = await add_customer(
        app.biz.db, now, "A", purchases=[(30.2, "100"), (30.1, "50"), (20, "70"), (1, "5")]
    )
    early = await add_customer(app.biz.db, now, "gone", purchases=[(40, "999")], refunded=True)
    async with app.biz.db.write() as session:
        first = await session.scalar(
            select(Purchase).where(Purchase.customer_id == a).order_by(Purchase.id).limit(1)
        )
        assert first is not None
        first.refunded_amount = Decimal("40")
        moved = await session.scalar(select(Purchase).where(Purchase.customer_id == early))
        assert moved is not None
        moved.customer_id = a  # a refunded purchase before A's first live one
        moved.created_at = now - timedelta(days=31)
        moved.created_ts = int(moved.created_at.timestamp())
    days = LocalDays.around(MOSCOW, now)
    results = []
    async with app.biz.db.engine.connect() as conn:
        for windowed in (False, True):
            stmt = purchases_statement(now, days, with_months=False, windowed=windowed)
            results.append((await fetch_int64(conn, stmt)).tolist())
    assert results[0] == results[1]
    row = next(r for r in results[0] if r[0] == a)
    assert row[6] == (100 - 40 + 50) * 100  # minor units
    assert row[3] == (60 + 50 + 70 + 5) * 100

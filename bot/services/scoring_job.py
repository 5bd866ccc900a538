"""The reclassification job: aggregate in SQL, score with `scoring`, write back in bulk.

Per-customer aggregates are computed by the database (one GROUP BY over purchases, net of
refunds; never every purchase loaded into Python). The arrays go through the pure
`scoring` functions in vectorised code, and one row per customer is upserted into
``customer_scores`` in chunks, reporting progress to an optional callback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import BigInteger, Float, func, literal_column, select, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

import scoring
from bot.config import RATING_SCALE_INPUTS, ScoringSettings
from bot.db.models import Customer, CustomerScore, Purchase, ScoringRun
from bot.services.context import Business

log = logging.getLogger(__name__)

DAYS_PER_MONTH = 30.44
WRITE_CHUNK = 20_000
FETCH_CHUNK = 50_000
RATING_MONTHS = 12
SORT_THREADS = min(4, os.cpu_count() or 1)  # SQLite sorter helper threads

Progress = Callable[[int, int], Awaitable[None]]

# Money columns as raw minor units, so sums stay integers and skip Decimal conversion.
AMOUNT_MINOR = type_coerce(Purchase.amount, BigInteger)
REFUNDED_MINOR = type_coerce(Purchase.refunded_amount, BigInteger)
NET_MINOR = AMOUNT_MINOR - REFUNDED_MINOR


@dataclass(frozen=True)
class ScoringSummary:
    run_id: int
    customers: int
    with_purchases: int
    repeat_buyers: int
    clv_method: str
    value_basis: str
    segments: dict[str, int]


@dataclass
class Aggregates:
    """One entry per customer, in customer id order."""

    customer_id: NDArray[np.int64]
    purchases: NDArray[np.int64]
    purchase_days: NDArray[np.int64]
    spend_minor: NDArray[np.int64]
    first_day: NDArray[np.float64]  # days since the epoch, NaN without purchases
    last_day: NDArray[np.float64]
    created_day: NDArray[np.float64]
    payment_terms: NDArray[np.str_]


def epoch_days(conn: AsyncConnection, column: Any) -> ColumnElement[float]:
    """A timestamp as fractional days since 1970-01-01, on either backend."""
    if conn.dialect.name == "sqlite":
        return type_coerce(func.julianday(column) - 2440587.5, Float)
    return type_coerce(func.extract("epoch", column) / 86400.0, Float)


def _day_bucket(conn: AsyncConnection, column: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":
        return func.date(column)
    return func.date_trunc("day", column)


def _scan_key(conn: AsyncConnection, column: Any) -> ColumnElement[Any]:
    """A GROUP BY key that keeps SQLite on one sequential scan of purchases.

    Grouped by the bare ``customer_id`` SQLite walks ix_purchases_customer_created and
    fetches every purchase from the table at random (purchases are stored in time
    order); ``+customer_id`` (same values) makes it scan the table once and sort.
    """
    if conn.dialect.name == "sqlite":
        return column.op("+", precedence=100)(literal_column("0", BigInteger))
    return column


@asynccontextmanager
async def _sort_threads(conn: AsyncConnection) -> AsyncIterator[None]:
    """Let SQLite's sorter use helper threads for the GROUP BYs (restored afterwards)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int((await conn.exec_driver_sql("PRAGMA threads")).scalar_one())
    await conn.exec_driver_sql(f"PRAGMA threads = {SORT_THREADS}")
    try:
        yield
    finally:
        await conn.exec_driver_sql(f"PRAGMA threads = {before}")


async def _fetch_columns(conn: AsyncConnection, stmt: Any, width: int) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(width)]
    result = await conn.stream(stmt)
    async for chunk in result.partitions(FETCH_CHUNK):
        for i, values in enumerate(zip(*chunk, strict=True)):
            columns[i].extend(values)
    return columns


def _as_float(values: list[Any]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


async def aggregate(conn: AsyncConnection) -> Aggregates:
    """Per-customer counts, net spend and first/last purchase, grouped by the database.

    Two queries: the customers, and the live (not fully refunded) purchases grouped per
    customer; customers without live purchases get 0 / 0 / 0 / NaN / NaN, exactly what
    a LEFT JOIN with ``coalesce(sum, 0)`` gives, without sorting the join.
    """
    people = await _fetch_columns(
        conn,
        select(Customer.id, epoch_days(conn, Customer.created_at), Customer.payment_terms).order_by(
            Customer.id
        ),
        3,
    )
    customer_id = np.array(people[0], dtype=np.int64)
    n = customer_id.size
    key = _scan_key(conn, Purchase.customer_id)
    bought = await _fetch_columns(
        conn,
        select(
            Purchase.customer_id,
            func.count(Purchase.id),
            func.count(func.distinct(_day_bucket(conn, Purchase.created_at))),
            func.sum(NET_MINOR),
            func.min(epoch_days(conn, Purchase.created_at)),
            func.max(epoch_days(conn, Purchase.created_at)),
        )
        .where(REFUNDED_MINOR < AMOUNT_MINOR)
        .group_by(key),
        6,
    )
    buyer = np.array(bought[0], dtype=np.int64)
    where = np.minimum(np.searchsorted(customer_id, buyer), max(n - 1, 0))
    known = customer_id[where] == buyer if n else np.zeros(0, dtype=bool)
    at = where[known]
    columns: list[NDArray[Any]] = []
    for values, dtype, empty in (
        (bought[1], np.int64, 0),
        (bought[2], np.int64, 0),
        (bought[3], np.int64, 0),
    ):
        column = np.full(n, empty, dtype=dtype)
        column[at] = np.array(values, dtype=dtype)[known]
        columns.append(column)
    for values in bought[4:6]:
        column = np.full(n, np.nan, dtype=np.float64)
        column[at] = _as_float(values)[known]
        columns.append(column)
    return Aggregates(
        customer_id=customer_id,
        purchases=columns[0],
        purchase_days=columns[1],
        spend_minor=columns[2],
        first_day=columns[3],
        last_day=columns[4],
        created_day=_as_float(people[1]),
        payment_terms=np.array(people[2], dtype=np.str_),
    )


async def monthly_totals(
    conn: AsyncConnection, ids: NDArray[np.int64], now: datetime
) -> NDArray[np.float64]:
    """Customers x the last 12 months of net spend (oldest first), grouped in SQL."""
    start = now - timedelta(days=RATING_MONTHS * DAYS_PER_MONTH)
    start_day = start.timestamp() / 86400.0
    month = func.floor((epoch_days(conn, Purchase.created_at) - start_day) / DAYS_PER_MONTH)
    stmt = (
        select(Purchase.customer_id, month, func.sum(NET_MINOR))
        .where(Purchase.created_at >= start, Purchase.created_at <= now)
        .group_by(_scan_key(conn, Purchase.customer_id), month)
    )
    totals = np.zeros((ids.size, RATING_MONTHS), dtype=np.float64)
    columns = await _fetch_columns(conn, stmt, 3)
    if columns[0]:
        data = np.array(columns, dtype=np.float64).T  # (Row objects would go one by one)
        where = np.searchsorted(ids, data[:, 0].astype(np.int64))
        months = np.clip(data[:, 1].astype(np.int64), 0, RATING_MONTHS - 1)
        np.add.at(totals, (where, months), data[:, 2] / 100.0)
    return totals


@dataclass
class Scores:
    rfm: scoring.RFMResult
    lifecycle: scoring.LifecycleResult
    clv: scoring.CLVResult | None
    clv_values: NDArray[np.float64]
    value: scoring.ValueResult
    strategy: scoring.StrategyResult
    rating: scoring.RatingScaleResult | None
    days_since_first: NDArray[np.float64]
    days_since_last: NDArray[np.float64]
    average: NDArray[np.float64]


def score(
    agg: Aggregates, now_day: float, cfg: ScoringSettings, monthly: NDArray[np.float64] | None
) -> Scores:
    """All the sources' methods on the aggregates, vectorised."""
    bought = agg.purchases > 0
    spend = agg.spend_minor / 100.0
    average = np.divide(spend, agg.purchases, out=np.zeros_like(spend), where=bought)
    since_first = np.where(bought, now_day - agg.first_day, np.nan)
    since_last = np.where(bought, now_day - agg.last_day, np.nan)
    rfm = scoring.rfm_scores(np.nan_to_num(since_last, nan=0.0), agg.purchases, average)
    span = np.where(bought, agg.last_day - agg.first_day, 0.0)
    repeat = np.maximum(agg.purchase_days - 1, 0)
    interval = np.divide(span, repeat, out=np.full_like(span, np.nan), where=repeat > 0)
    lifecycle = scoring.lifecycle_stages(
        agg.purchases,
        np.nan_to_num(since_first, nan=0.0),
        np.nan_to_num(since_last, nan=0.0),
        interval,
        scoring.LifecycleThresholds(**cfg.lifecycle.model_dump()),
    )
    clv_result = None
    clv_values = np.full(spend.shape, np.nan)
    if bought.any():
        clv_result = scoring.estimate_clv(
            repeat[bought],
            span[bought],
            np.maximum(since_first[bought], span[bought]),
            average[bought],
            scoring.CLVSettings(
                margin=cfg.clv_margin,
                discount_rate=cfg.clv_discount_rate,
                horizon_periods=cfg.clv_horizon_months,
                period_length=DAYS_PER_MONTH,
                min_repeat_buyers=cfg.min_repeat_buyers,
            ),
        )
        clv_values[bought] = clv_result.clv
    tenure_months = np.maximum(np.nan_to_num(since_first, nan=0.0) / DAYS_PER_MONTH, 1.0)
    fitted = clv_result is not None and clv_result.purchases_method == "bg_nbd"
    value = scoring.value_tiers(clv_values if fitted else None, spend / tenure_months, rated=bought)
    strategy = scoring.relationship_strategies(
        value.tier,
        rfm.segment,
        rfm.segment_names,
        scoring.strategy_table(cfg.value_strategy) if cfg.value_strategy else None,
    )
    rating = _rating(agg, now_day, cfg, monthly, spend if monthly is None else monthly.sum(1))
    return Scores(
        rfm,
        lifecycle,
        clv_result,
        clv_values,
        value,
        strategy,
        rating,
        since_first,
        since_last,
        average,
    )


def rating_preset(cfg: ScoringSettings) -> scoring.RatingScalePreset | None:
    if cfg.rating_scale == "b2b":
        return scoring.B2B_PRESET
    if cfg.rating_scale == "custom" and cfg.custom_rating_scale:
        return scoring.preset_from_dict(cfg.custom_rating_scale)
    return None


def _rating(
    agg: Aggregates,
    now_day: float,
    cfg: ScoringSettings,
    monthly: NDArray[np.float64] | None,
    trailing: NDArray[np.float64],
) -> scoring.RatingScaleResult | None:
    """Seed 002's rating scale over the trailing 12 months (SPEC: rating-scale inputs)."""
    preset = rating_preset(cfg)
    if preset is None or monthly is None:
        return None
    total = trailing.sum()
    share = trailing / total * 100.0 if total > 0 else np.zeros_like(trailing)
    start = np.where(np.isnan(agg.first_day), agg.created_day, agg.first_day)
    months = np.maximum(now_day - start, 0.0) / DAYS_PER_MONTH
    inputs: dict[str, Any] = {
        "turnover_share_pct": share,
        "cooperation_months": months,
        "payment": agg.payment_terms,
        "monthly_growth_pct": scoring.average_monthly_growth_pct(monthly).growth_pct,
    }
    assert set(inputs) == RATING_SCALE_INPUTS, "config.RATING_SCALE_INPUTS is the contract"
    return scoring.score_rating_scale(preset, {c.key: inputs[c.key] for c in preset.criteria})


SCORE_COLUMNS = tuple(c.name for c in CustomerScore.__table__.columns)
# Python's round(x, d) and the Money type are reproduced in numpy where that is provably
# exact: |x * 10**d| below EXACT_BELOW and not within NEAR_TIE of a rounding tie (the
# float error of x * 10**d is under 1e-7 there). The few other values take the scalar path.
EXACT_BELOW = 1e9
NEAR_TIE = 1e-6


def _rounded_scaled(values: NDArray[np.float64], digits: int) -> NDArray[np.float64]:
    """``round(x, digits) * 10**digits`` as whole floats, exactly as Python rounds."""
    scaled = values * 10.0**digits
    out = np.rint(scaled)
    with np.errstate(invalid="ignore"):
        unsafe = ~(np.abs(scaled) < EXACT_BELOW) | (
            np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < NEAR_TIE
        )
    for i in np.flatnonzero(unsafe & ~np.isnan(values)).tolist():
        exact = Decimal(str(round(float(values[i]), digits))).scaleb(digits)
        out[i] = float(exact) if abs(exact) < 2**53 else np.nan
    return out


def _nullable(values: list[Any], missing: NDArray[np.bool_]) -> list[Any]:
    if not missing.any():
        return values
    column = np.array(values, dtype=object)
    column[missing] = None
    return column.tolist()


def _money_minor_or_none(values: NDArray[np.float64]) -> list[int | None]:
    """What ``Money`` stores for ``_money_or_none(v)``: minor units of round(v, 2)."""
    minor = _rounded_scaled(values, 2)
    missing = np.isnan(values)
    result = _nullable(np.where(np.isnan(minor), 0, minor).astype(np.int64).tolist(), missing)
    for i in np.flatnonzero(~missing & np.isnan(minor)).tolist():  # beyond float precision
        result[i] = int((Decimal(str(round(float(values[i]), 2))) * 100).to_integral_exact())
    return result


def _float6_or_none(values: NDArray[np.float64]) -> list[float | None]:
    """``_float_or_none`` (round to 6 places) for a whole column."""
    rounded = _rounded_scaled(values, 6) / 1e6  # correctly rounded: as round() returns
    missing = np.isnan(values)
    result = _nullable(rounded.tolist(), missing)
    for i in np.flatnonzero(~missing & np.isnan(rounded)).tolist():
        result[i] = _float_or_none(values[i])
    return result


def _int_or_none_column(values: NDArray[np.float64]) -> list[int | None]:
    missing = np.isnan(values)
    return _nullable(np.trunc(np.where(missing, 0.0, values)).astype(np.int64).tolist(), missing)


def _labels(names: tuple[str, ...], fallback: str, index: NDArray[np.integer]) -> list[str]:
    """``names[i] if i >= 0 else fallback`` for every index."""
    table = np.array([*names, fallback], dtype=object)
    return table[np.where(index >= 0, index, len(names))].tolist()


def _columns(agg: Aggregates, s: Scores, now: datetime, dialect: Dialect) -> dict[str, list[Any]]:
    """One row per customer as columns of stored values, in SCORE_COLUMNS order.

    The values are what the ORM would store for the row dict the job used to build
    (``_rows``): money as integer minor units (``Money``), floats rounded as by
    ``_float_or_none``, days truncated, NULLs where those helpers give None, and
    ``computed_at`` through its column type's own bind processing for ``dialect``.
    """
    computed_at = CustomerScore.__table__.c.computed_at.type
    stamp = computed_at.dialect_impl(dialect).bind_processor(dialect)
    n = agg.customer_id.size
    bought = agg.purchases > 0
    p_alive = np.full(agg.purchases.shape, np.nan)
    expected = np.full(agg.purchases.shape, np.nan)
    if s.clv is not None:
        p_alive[bought] = s.clv.p_alive
        expected[bought] = s.clv.expected_purchases
    tier = s.value.tier.astype(np.int64)
    clv_method = s.clv.purchases_method if s.clv is not None else "none"
    columns: dict[str, list[Any]] = {
        "customer_id": agg.customer_id.tolist(),
        "computed_at": [stamp(now) if stamp is not None else now] * n,
        "purchases": agg.purchases.tolist(),
        "total_spend": agg.spend_minor.tolist(),
        "average_check": _money_minor_or_none(s.average.astype(np.float64)),
        "days_since_first": _int_or_none_column(s.days_since_first),
        "days_since_last": _int_or_none_column(s.days_since_last),
        "recency": s.rfm.recency.astype(np.int64).tolist(),
        "frequency": s.rfm.frequency.astype(np.int64).tolist(),
        "monetary": s.rfm.monetary.astype(np.int64).tolist(),
        "rfm_code": s.rfm.code_text(),
        "segment": s.rfm.segment_labels(),
        "lifecycle": s.lifecycle.stage_labels(),
        "lapsed": s.lifecycle.lapsed.astype(bool).tolist(),
        "value": _labels(scoring.VALUE_LEVELS, "unrated", tier),
        "strategy": _labels(scoring.STRATEGIES, "none", s.strategy.strategy.astype(np.int64)),
        "service": _labels(scoring.SERVICES, "none", tier),
        "clv": _money_minor_or_none(s.clv_values),
        "p_alive": _float6_or_none(p_alive),
        "expected_purchases": _float6_or_none(expected),
        "clv_method": np.where(bought, clv_method, "none").astype(object).tolist(),
        "rating_points": (
            s.rating.total.astype(np.int64).tolist() if s.rating is not None else [None] * n
        ),
        "rating_category": s.rating.category_labels() if s.rating is not None else [None] * n,
    }
    assert tuple(columns) == SCORE_COLUMNS, "columns follow the table"
    return columns


def _float_or_none(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def _money_or_none(value: float) -> Decimal | None:
    return None if np.isnan(value) else Decimal(str(round(float(value), 2)))


def _upsert_sql(conn: AsyncConnection) -> str:
    """INSERT ... ON CONFLICT (customer_id) DO UPDATE of every column, in driver SQL.

    SQLite takes rows (executemany); PostgreSQL takes one array per column and unnests
    them, so a chunk is one statement and one round trip.
    """
    quote = conn.dialect.identifier_preparer.quote
    table = CustomerScore.__table__
    names = ", ".join(quote(c) for c in SCORE_COLUMNS)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in SCORE_COLUMNS[1:])
    if conn.dialect.name == "postgresql":
        arrays = ", ".join(
            f"${i}::{table.c[c].type.compile(dialect=conn.dialect)}[]"
            for i, c in enumerate(SCORE_COLUMNS, start=1)
        )
        source = f"SELECT * FROM unnest({arrays})"
    else:
        source = f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})"
    return (
        f"INSERT INTO {quote(table.name)} ({names}) {source} "
        f"ON CONFLICT ({quote('customer_id')}) DO UPDATE SET {updates}"
    )


async def _upsert(
    conn: AsyncConnection, columns: dict[str, list[Any]], start: int, stop: int
) -> None:
    """Write rows start..stop of the columns (one chunk, inside the caller's transaction)."""
    parts = [values[start:stop] for values in columns.values()]
    sql = _upsert_sql(conn)
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(sql, tuple(parts))
    else:
        await conn.exec_driver_sql(sql, list(zip(*parts, strict=True)))


async def reclassify(
    biz: Business, progress: Progress | None = None, timings: dict[str, float] | None = None
) -> ScoringSummary:
    """Score every customer and write one row each; returns what the run rested on.

    ``timings``, if given, receives the wall seconds of each phase (benchmarks only).
    """
    lap = _Laps(timings)
    now = biz.clock.now()
    cfg = biz.settings.scoring
    async with biz.db.write() as session:
        run = ScoringRun(started_at=now, status="running", customers=0)
        session.add(run)
        await session.flush()
        run_id = run.id
    lap("start")
    now_day = now.timestamp() / 86400.0
    async with biz.db.engine.connect() as conn, _sort_threads(conn):
        agg = await aggregate(conn)
        lap("aggregate")
        # The arithmetic runs in a thread so the event loop keeps serving updates meanwhile,
        # and overlaps the monthly query; only the rating scale needs the months, and it
        # is added once they are in (score() with months=None computes the rest alike).
        scored = asyncio.ensure_future(asyncio.to_thread(score, agg, now_day, cfg, None))
        try:
            monthly = (
                await monthly_totals(conn, agg.customer_id, now)
                if rating_preset(cfg) is not None
                else None
            )
        except BaseException:
            await asyncio.gather(scored, return_exceptions=True)
            raise
        lap("monthly")
    scores = await scored
    if monthly is not None:
        rating = _rating(agg, now_day, cfg, monthly, monthly.sum(1))
        scores = dataclasses.replace(scores, rating=rating)
    lap("score")
    columns = await asyncio.to_thread(_columns, agg, scores, now, biz.db.engine.dialect)
    lap("rows")
    total = int(agg.customer_id.size)
    for start in range(0, total, WRITE_CHUNK):
        async with biz.db.writer() as session, session.begin():
            conn = await session.connection()
            await _upsert(conn, columns, start, min(start + WRITE_CHUNK, total))
        if progress is not None:
            await progress(min(start + WRITE_CHUNK, total), total)
    lap("write")
    summary = _summary(run_id, agg, scores)
    async with biz.db.write() as session:
        await session.execute(
            update(ScoringRun)
            .where(ScoringRun.id == run_id)
            .values(
                finished_at=biz.clock.now(),
                status="done",
                customers=total,
                details={
                    "with_purchases": summary.with_purchases,
                    "repeat_buyers": summary.repeat_buyers,
                    "clv_method": summary.clv_method,
                    "value_basis": summary.value_basis,
                },
            )
        )
    lap("finish")
    log.info("reclassified %d customers (run %d)", total, run_id)
    return summary


class _Laps:
    """Accumulates wall time per phase into an optional dict (no-op without one)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def __call__(self, phase: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
            self.last = now


def _summary(run_id: int, agg: Aggregates, s: Scores) -> ScoringSummary:
    counts = np.bincount(s.rfm.segment.astype(np.intp), minlength=len(s.rfm.segment_names))
    names = sorted(n for n, c in zip(s.rfm.segment_names, counts.tolist(), strict=True) if c)
    per_name = dict(zip(s.rfm.segment_names, counts.tolist(), strict=True))
    return ScoringSummary(
        run_id=run_id,
        customers=int(agg.customer_id.size),
        with_purchases=int((agg.purchases > 0).sum()),
        repeat_buyers=int((agg.purchase_days > 1).sum()),
        clv_method=s.clv.purchases_method if s.clv is not None else "none",
        value_basis=s.value.basis,
        segments={name: per_name[name] for name in names},
    )


async def run_nightly(biz: Business) -> ScoringSummary:
    return await reclassify(biz)

"""The reclassification job: aggregate in SQL, score with `scoring`, write back in bulk.

Per-customer aggregates are computed by the database (one GROUP BY over purchases, net of
refunds; never every purchase loaded into Python). The arrays go through the pure
`scoring` functions in vectorised code, and one row per customer is upserted into
``customer_scores`` in chunks, reporting progress to an optional callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import BigInteger, Float, and_, func, select, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


async def aggregate(conn: AsyncConnection) -> Aggregates:
    """Per-customer counts, net spend and first/last purchase, grouped by the database."""
    live = and_(Purchase.customer_id == Customer.id, REFUNDED_MINOR < AMOUNT_MINOR)
    stmt = (
        select(
            Customer.id,
            func.count(Purchase.id),
            func.count(func.distinct(_day_bucket(conn, Purchase.created_at))),
            func.coalesce(func.sum(NET_MINOR), 0),
            func.min(epoch_days(conn, Purchase.created_at)),
            func.max(epoch_days(conn, Purchase.created_at)),
            epoch_days(conn, Customer.created_at),
            Customer.payment_terms,
        )
        .select_from(Customer)
        .outerjoin(Purchase, live)
        .group_by(Customer.id)
        .order_by(Customer.id)
    )
    columns: list[list[Any]] = [[] for _ in range(8)]
    result = await conn.stream(stmt)
    async for chunk in result.partitions(FETCH_CHUNK):
        for i, values in enumerate(zip(*chunk, strict=True)):
            columns[i].extend(values)
    as_float = [
        np.array([np.nan if v is None else v for v in col], dtype=np.float64)
        for col in columns[4:7]
    ]
    return Aggregates(
        customer_id=np.array(columns[0], dtype=np.int64),
        purchases=np.array(columns[1], dtype=np.int64),
        purchase_days=np.array(columns[2], dtype=np.int64),
        spend_minor=np.array(columns[3], dtype=np.int64),
        first_day=as_float[0],
        last_day=as_float[1],
        created_day=as_float[2],
        payment_terms=np.array(columns[7], dtype=np.str_),
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
        .group_by(Purchase.customer_id, month)
    )
    totals = np.zeros((ids.size, RATING_MONTHS), dtype=np.float64)
    rows = (await conn.execute(stmt)).all()
    if rows:
        data = np.array(rows, dtype=np.float64)
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


def _rows(agg: Aggregates, s: Scores, now: datetime) -> list[dict[str, Any]]:
    codes = s.rfm.code_text()
    segments = s.rfm.segment_labels()
    stages = s.lifecycle.stage_labels()
    rating_keys = s.rating.category_labels() if s.rating is not None else None
    clv_method = s.clv.purchases_method if s.clv is not None else "none"
    p_alive = np.full(agg.purchases.shape, np.nan)
    expected = np.full(agg.purchases.shape, np.nan)
    bought = agg.purchases > 0
    if s.clv is not None:
        p_alive[bought] = s.clv.p_alive
        expected[bought] = s.clv.expected_purchases
    rows = []
    for i in range(agg.customer_id.size):
        tier = int(s.value.tier[i])
        strategy = int(s.strategy.strategy[i])
        rows.append(
            {
                "customer_id": int(agg.customer_id[i]),
                "computed_at": now,
                "purchases": int(agg.purchases[i]),
                "total_spend": Decimal(int(agg.spend_minor[i])) / 100,
                "average_check": Decimal(str(round(float(s.average[i]), 2))),
                "days_since_first": _int_or_none(s.days_since_first[i]),
                "days_since_last": _int_or_none(s.days_since_last[i]),
                "recency": int(s.rfm.recency[i]),
                "frequency": int(s.rfm.frequency[i]),
                "monetary": int(s.rfm.monetary[i]),
                "rfm_code": codes[i],
                "segment": segments[i],
                "lifecycle": stages[i],
                "lapsed": bool(s.lifecycle.lapsed[i]),
                "value": scoring.VALUE_LEVELS[tier] if tier >= 0 else "unrated",
                "strategy": scoring.STRATEGIES[strategy] if strategy >= 0 else "none",
                "service": scoring.SERVICES[tier] if tier >= 0 else "none",
                "clv": _money_or_none(s.clv_values[i]),
                "p_alive": _float_or_none(p_alive[i]),
                "expected_purchases": _float_or_none(expected[i]),
                "clv_method": clv_method if bought[i] else "none",
                "rating_points": int(s.rating.total[i]) if s.rating is not None else None,
                "rating_category": rating_keys[i] if rating_keys is not None else None,
            }
        )
    return rows


def _int_or_none(value: float) -> int | None:
    return None if np.isnan(value) else int(value)


def _float_or_none(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def _money_or_none(value: float) -> Decimal | None:
    return None if np.isnan(value) else Decimal(str(round(float(value), 2)))


async def _upsert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(CustomerScore)
    updates = {c: stmt.excluded[c] for c in rows[0] if c != "customer_id"}
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["customer_id"], set_=updates), rows
    )


async def reclassify(biz: Business, progress: Progress | None = None) -> ScoringSummary:
    """Score every customer and write one row each; returns what the run rested on."""
    now = biz.clock.now()
    cfg = biz.settings.scoring
    async with biz.db.write() as session:
        run = ScoringRun(started_at=now, status="running", customers=0)
        session.add(run)
        await session.flush()
        run_id = run.id
    async with biz.db.engine.connect() as conn:
        agg = await aggregate(conn)
        monthly = (
            await monthly_totals(conn, agg.customer_id, now)
            if rating_preset(cfg) is not None
            else None
        )
    now_day = now.timestamp() / 86400.0
    # The arithmetic runs in a thread so the event loop keeps serving updates meanwhile.
    scores = await asyncio.to_thread(score, agg, now_day, cfg, monthly)
    rows = await asyncio.to_thread(_rows, agg, scores, now)
    total = len(rows)
    for start in range(0, total, WRITE_CHUNK):
        async with biz.db.writer() as session, session.begin():
            conn = await session.connection()
            await _upsert(conn, rows[start : start + WRITE_CHUNK])
        if progress is not None:
            await progress(min(start + WRITE_CHUNK, total), total)
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
    log.info("reclassified %d customers (run %d)", total, run_id)
    return summary


def _summary(run_id: int, agg: Aggregates, s: Scores) -> ScoringSummary:
    names, counts = np.unique(np.array(s.rfm.segment_labels(), dtype=np.str_), return_counts=True)
    return ScoringSummary(
        run_id=run_id,
        customers=int(agg.customer_id.size),
        with_purchases=int((agg.purchases > 0).sum()),
        repeat_buyers=int((agg.purchase_days > 1).sum()),
        clv_method=s.clv.purchases_method if s.clv is not None else "none",
        value_basis=s.value.basis,
        segments=dict(zip(names.tolist(), counts.tolist(), strict=True)),
    )


async def run_nightly(biz: Business) -> ScoringSummary:
    return await reclassify(biz)

"""The reclassification job: aggregate in SQL, score with `scoring`, write back in bulk.

Per-customer aggregates are computed by the database (one GROUP BY over purchases, net of
refunds; never every purchase loaded into Python). The arrays go through the pure
``scoring.score`` (``scoring/customer_scores.py``), and one row per customer is upserted into
``customer_scores`` in chunks, reporting progress to an optional callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

import scoring
from bot.config import ScoringSettings
from bot.db.models import CustomerScore, ScoringRun
from bot.money import to_minor
from bot.services.context import Business, Progress
from bot.services.insight.retention import DETAILS_KEY, whatif_details
from bot.services.insight.scoring_aggregates import aggregate
from bot.services.local_days import LocalDays
from scoring import PurchaseHistory, Scores

log = logging.getLogger(__name__)

WRITE_CHUNK = 20_000


@dataclass(frozen=True)
class ScoringSummary:
    run_id: int
    customers: int
    with_purchases: int
    repeat_buyers: int
    clv_method: str
    value_basis: str
    segments: dict[str, int]


def score_settings(cfg: ScoringSettings) -> scoring.ScoreSettings:
    """The configuration ``scoring.score`` takes, from the bot's validated settings."""
    return scoring.ScoreSettings(
        lifecycle=scoring.LifecycleThresholds(**cfg.lifecycle.model_dump()),
        clv_margin=cfg.clv_margin,
        clv_discount_rate=cfg.clv_discount_rate,
        clv_horizon_months=cfg.clv_horizon_months,
        min_repeat_buyers=cfg.min_repeat_buyers,
        strategy=cfg.strategy,
        future_profit_min=cfg.future_profit_min,
        rating=rating_preset(cfg),
    )


def rating_preset(cfg: ScoringSettings) -> scoring.RatingScalePreset | None:
    if cfg.rating_scale == "b2b":
        return scoring.B2B_PRESET
    if cfg.rating_scale == "custom" and cfg.custom_rating_scale:
        return scoring.preset_from_dict(cfg.custom_rating_scale)
    return None


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
        result[i] = to_minor(Decimal(str(round(float(values[i]), 2))))
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


def _columns(
    agg: PurchaseHistory, s: Scores, now: datetime, dialect: Dialect
) -> dict[str, list[Any]]:
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
    clv_method = np.full(n, "none", dtype=object)
    if s.clv is not None:
        clv_method[bought] = s.clv.methods
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
        "clv_method": clv_method.tolist(),
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


LOAD_TABLE = "customer_scores_load"


def _upsert_sql(conn: AsyncConnection) -> str:
    """INSERT ... ON CONFLICT (customer_id) DO UPDATE of every column, in driver SQL.

    SQLite takes the rows as parameters (executemany); PostgreSQL reads them from a
    temporary table filled by COPY (binary, no per-row statement).
    """
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in SCORE_COLUMNS)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in SCORE_COLUMNS[1:])
    if conn.dialect.name == "postgresql":
        source = f"SELECT {names} FROM {quote(LOAD_TABLE)}"
    else:
        source = f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})"
    return (
        f"INSERT INTO {quote(CustomerScore.__tablename__)} ({names}) {source} "
        f"ON CONFLICT ({quote('customer_id')}) DO UPDATE SET {updates}"
    )


async def _upsert(
    conn: AsyncConnection, columns: dict[str, list[Any]], start: int, stop: int
) -> None:
    """Write rows start..stop of the columns (one chunk, inside the caller's transaction)."""
    rows = list(zip(*(values[start:stop] for values in columns.values()), strict=True))
    if conn.dialect.name != "postgresql":
        await conn.exec_driver_sql(_upsert_sql(conn), rows)
        return
    quote = conn.dialect.identifier_preparer.quote
    await conn.exec_driver_sql(  # also opens the transaction the COPY joins
        f"CREATE TEMPORARY TABLE {quote(LOAD_TABLE)} "
        f"(LIKE {quote(CustomerScore.__tablename__)}) ON COMMIT DROP"
    )
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(
        LOAD_TABLE, records=rows, columns=list(SCORE_COLUMNS)
    )
    await conn.exec_driver_sql(_upsert_sql(conn))


async def reclassify(
    biz: Business, progress: Progress | None = None, timings: dict[str, float] | None = None
) -> ScoringSummary:
    """Score every customer and write one row each; returns what the run rested on.

    ``timings``, if given, receives the wall seconds of each phase (benchmarks only).
    """
    lap = _Laps(timings)
    now = biz.clock.now()
    run_id = await _claim_run(biz, now)
    lap("start")
    try:
        agg, scores = await _score_and_store(biz, now, progress, lap)
    except BaseException as exc:
        log.error("scoring run %d failed", run_id, exc_info=exc)
        try:  # shielded: a cancelled job (bot stopping) still leaves its run marked failed
            await asyncio.shield(_finish(biz, run_id, "failed", 0, {"error": type(exc).__name__}))
        except Exception:  # the database may be what failed: keep the original error
            log.exception("could not record scoring run %d as failed", run_id)
        raise
    summary = _summary(run_id, agg, scores)
    details = {
        "with_purchases": summary.with_purchases,
        "repeat_buyers": summary.repeat_buyers,
        "clv_method": summary.clv_method,
        "value_basis": summary.value_basis,
        # what "profitable in future" was held to, for /segments to explain
        "future_profit_min": round(scores.future_min, 2),
        "future_profit_min_default": biz.settings.scoring.future_profit_min is None,
        DETAILS_KEY: whatif_details(scores.whatif, summary.clv_method, biz.settings.scoring),
    }
    await _finish(biz, run_id, "done", summary.customers, details)
    lap("finish")
    log.info("reclassified %d customers (run %d)", summary.customers, run_id)
    return summary


class ScoringBusyError(Exception):
    """Another reclassification is running; it started at ``started_at``."""

    def __init__(self, started_at: datetime) -> None:
        super().__init__(f"a reclassification is already running since {started_at}")
        self.started_at = started_at


# Serialises claims on PostgreSQL (any constant shared by all bot processes will do);
# SQLite's BEGIN IMMEDIATE already does.
_CLAIM_LOCK_KEY = 0x5C0_12E


async def _claim_run(biz: Business, now: datetime) -> int:
    """Record a new run, unless a fresh one is still running (then ScoringBusyError).

    Two runs at once would each hold the whole history in memory and race on the same
    rows; a run left "running" by a crash stops blocking after ``stale_run_minutes``.
    """
    fresh = now - timedelta(minutes=biz.settings.scoring.stale_run_minutes)
    async with biz.db.write() as session:
        if biz.db.engine.dialect.name == "postgresql":
            await session.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK_KEY)))
        running = await session.scalar(
            select(ScoringRun.started_at)
            .where(ScoringRun.status == "running", ScoringRun.started_at > fresh)
            .order_by(ScoringRun.started_at.desc())
            .limit(1)
        )
        if running is not None:
            raise ScoringBusyError(running)
        run = ScoringRun(started_at=now, status="running", customers=0)
        session.add(run)
        await session.flush()
        return run.id


async def _score_and_store(
    biz: Business, now: datetime, progress: Progress | None, lap: _Laps
) -> tuple[PurchaseHistory, Scores]:
    cfg = biz.settings.scoring
    days = LocalDays.around(biz.settings.business.zone, now)
    async with biz.db.engine.connect() as conn:
        agg = await aggregate(
            conn,
            now,
            days,
            with_months=rating_preset(cfg) is not None,
            point_value=float(biz.settings.loyalty.point_value),
        )
    lap("aggregate")
    # The arithmetic runs in a thread so that the event loop keeps serving updates.
    day = float(days.day_of(now))
    scores = await asyncio.to_thread(scoring.score, agg, day, score_settings(cfg))
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
    return agg, scores


async def _finish(
    biz: Business, run_id: int, status: str, customers: int, details: dict[str, Any]
) -> None:
    async with biz.db.write() as session:
        await session.execute(
            update(ScoringRun)
            .where(ScoringRun.id == run_id)
            .values(
                finished_at=biz.clock.now(), status=status, customers=customers, details=details
            )
        )


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


def _summary(run_id: int, agg: PurchaseHistory, s: Scores) -> ScoringSummary:
    counts = np.bincount(s.rfm.segment.astype(np.intp), minlength=len(s.rfm.segment_names))
    names = sorted(n for n, c in zip(s.rfm.segment_names, counts.tolist(), strict=True) if c)
    per_name = dict(zip(s.rfm.segment_names, counts.tolist(), strict=True))
    return ScoringSummary(
        run_id=run_id,
        customers=int(agg.customer_id.size),
        with_purchases=int((agg.purchases > 0).sum()),
        repeat_buyers=int(scoring.is_repeat_buyer(agg.purchase_days).sum()),
        clv_method=s.clv.purchases_method if s.clv is not None else "none",
        value_basis=s.value.basis,
        segments={name: per_name[name] for name in names},
    )


async def run_nightly(biz: Business) -> ScoringSummary | None:
    try:
        return await reclassify(biz)
    except ScoringBusyError as busy:
        log.info("nightly reclassification skipped: %s", busy)
        return None

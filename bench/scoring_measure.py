"""Child process of ``bench.scoring``: run the reclassification job and report as JSON.

Runs in a fresh interpreter per backend so that its peak RSS is the job's own (the
generator and the pandas baseline live in other processes). Two runs: the first writes
every ``customer_scores`` row (insert), the second rewrites them (the nightly steady
state: every row conflicts and is updated). Afterwards, outside the measured runs, the
RFM inputs are saved for the pandas baseline together with our codes, and the RFM
function alone is timed on them.

Usage (normally started by ``bench.scoring``)::

    python -m bench.scoring_measure URL OUT.npz [--rating b2b|none] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import statistics
import time
from typing import Any

import numpy as np
from sqlalchemy import func, select

import scoring
from bench.scoring_data import NOW, peak_rss_mb
from bot.app import build_business
from bot.clock import FrozenClock
from bot.config import settings_from_dict
from bot.db.models import CustomerScore
from bot.services.insight.scoring_aggregates import aggregate
from bot.services.insight.scoring_job import rating_preset, reclassify, score_settings
from bot.services.local_days import LocalDays

RFM_REPEATS = 7


def bench_config(url: str, rating: str) -> dict[str, Any]:
    return {
        "business": {
            "name": "Bench Garage",
            "owner_ids": [1],
            "timezone": "Europe/Moscow",
            "outlets": [{"code": "main", "name": "Main"}, {"code": "north", "name": "North"}],
        },
        "loyalty": {"service_tags": ["oil", "tyres", "wash"], "earn_percent": "5"},
        "database": {"url": url},
        "scoring": {"rating_scale": rating},
    }


def rfm_inputs(agg: Any, now_day: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exactly the arrays ``scoring.score`` passes to ``scoring.rfm_scores``."""
    bought = agg.purchases > 0
    spend = agg.spend_minor / 100.0
    average = np.divide(spend, agg.purchases, out=np.zeros_like(spend), where=bought)
    since_last = np.nan_to_num(np.where(bought, now_day - agg.last_day, np.nan), nan=0.0)
    return since_last, agg.purchases, average


async def measure(url: str, out: str, rating: str, profile: str | None) -> dict[str, Any]:
    settings = settings_from_dict(bench_config(url, rating), use_env=False)
    biz = build_business(settings, clock=FrozenClock(NOW))
    report: dict[str, Any] = {"rss_before_mb": peak_rss_mb(), "runs": []}
    profiler = cProfile.Profile() if profile else None
    try:
        for label in ("first", "rerun"):
            timings: dict[str, float] = {}
            if profiler is not None and label == "rerun":
                profiler.enable()
            started = time.perf_counter()
            summary = await reclassify(biz, timings=timings)
            wall = time.perf_counter() - started
            if profiler is not None and label == "rerun":
                profiler.disable()
            report["runs"].append({"run": label, "wall_s": wall, "phases": timings})
        report["peak_rss_mb"] = peak_rss_mb()
        report["summary"] = {
            "customers": summary.customers,
            "with_purchases": summary.with_purchases,
            "repeat_buyers": summary.repeat_buyers,
            "clv_method": summary.clv_method,
            "value_basis": summary.value_basis,
        }
        async with biz.db.read() as session:
            stored = await session.scalar(select(func.count()).select_from(CustomerScore))
        report["rows_stored"] = int(stored or 0)
        days = LocalDays.around(settings.business.zone, NOW)
        now_day = float(days.day_of(NOW))
        async with biz.db.engine.connect() as conn:
            agg = await aggregate(
                conn, NOW, days, with_months=rating_preset(settings.scoring) is not None
            )
    finally:
        await biz.db.dispose()
    if profiler is not None and profile:
        profiler.dump_stats(profile)

    started = time.perf_counter()  # score() alone, as in the job
    scoring.score(agg, now_day, score_settings(settings.scoring))
    report["score_s"] = time.perf_counter() - started
    recency, count, average = rfm_inputs(agg, now_day)
    times = []
    for _ in range(RFM_REPEATS):
        started = time.perf_counter()
        ours = scoring.rfm_scores(recency, count, average)
        times.append(time.perf_counter() - started)
    report["rfm_s"] = statistics.median(times)
    np.savez(
        out,
        recency=recency,
        purchases=count,
        average=average,
        code=ours.code,
        segment=np.array(ours.segment_names, dtype=np.str_)[ours.segment],
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--rating", default="b2b", choices=["b2b", "none"])
    parser.add_argument("--profile", help="write cProfile stats of the rerun to this file")
    args = parser.parse_args()
    report = asyncio.run(measure(args.url, args.out, args.rating, args.profile))
    print(json.dumps(report))


if __name__ == "__main__":
    main()

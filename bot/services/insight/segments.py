"""The owner's /segments: how many customers each scoring label holds, from the last
reclassification (``customer_scores``), for customers who have not used /forget.

Four dimensions, each a column the scoring job writes: RFM ``segment``, ``lifecycle``
stage, ``value`` and seed 001's ``strategy``. One GROUP BY over all four gives the counts
of each and, per RFM segment, the strategy most of its customers have (what the seed
says to do with them). The last finished run's details say what "profitable in future"
was held to (``scoring.future_profit_min`` or its default), which /segments explains.

A customer who bought since their last scoring is counted apart (``pending``), in no
group: their labels predate the purchase, and SPEC says such a customer is never shown
as lapsing or released.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select

from bot.db.models import Customer, CustomerScore, Purchase, ScoringRun
from bot.services.context import Business
from bot.services.money.live_purchases import IS_LIVE

DIMENSIONS: tuple[str, ...] = ("segment", "lifecycle", "value", "strategy")


@dataclass(frozen=True)
class SegmentCounts:
    """Customers per label of each dimension (largest first), and the main strategy of
    each RFM segment."""

    scored: int
    by: dict[str, list[tuple[str, int]]]
    segment_strategy: dict[str, str] = field(default_factory=dict)
    pending: int = 0  # bought since their scores were computed: in no group until rescored
    future_min: float | None = None  # the expectation of the last run (money)
    future_min_default: bool = True  # True: the margin on one average purchase

    def count(self, dimension: str, value: str) -> int:
        return dict(self.by.get(dimension, [])).get(value, 0)


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


async def segment_counts(biz: Business) -> SegmentCounts:
    columns = [getattr(CustomerScore, d) for d in DIMENSIONS]
    bought_since = exists().where(
        Purchase.customer_id == CustomerScore.customer_id,
        Purchase.created_at > CustomerScore.computed_at,
        IS_LIVE,
    )
    async with biz.db.read() as session:
        rows = (
            await session.execute(
                select(*columns, func.count())
                .join(Customer, Customer.id == CustomerScore.customer_id)
                .where(Customer.erased_at.is_(None), ~bought_since)
                .group_by(*columns)
            )
        ).all()
        pending = await session.scalar(
            select(func.count())
            .select_from(CustomerScore)
            .join(Customer, Customer.id == CustomerScore.customer_id)
            .where(Customer.erased_at.is_(None), bought_since)
        )
        details = await session.scalar(
            select(ScoringRun.details)
            .where(ScoringRun.status == "done")
            .order_by(ScoringRun.id.desc())
            .limit(1)
        )
    counters: dict[str, Counter[str]] = {d: Counter() for d in DIMENSIONS}
    per_segment: dict[str, Counter[str]] = {}
    for *labels, n in rows:
        for dimension, label in zip(DIMENSIONS, labels, strict=True):
            counters[dimension][str(label)] += int(n)
        per_segment.setdefault(str(labels[0]), Counter())[str(labels[3])] += int(n)
    return SegmentCounts(
        scored=sum(counters["segment"].values()),
        by={d: _ranked(c) for d, c in counters.items()},
        segment_strategy={s: _ranked(c)[0][0] for s, c in per_segment.items()},
        pending=int(pending or 0),
        future_min=(details or {}).get("future_profit_min"),
        future_min_default=bool((details or {}).get("future_profit_min_default", True)),
    )

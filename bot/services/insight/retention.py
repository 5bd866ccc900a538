"""The "+5 points of retention" what-if on /stats, from the last scoring run.

The nightly scoring computes it on the business's own purchase model
(``scoring.clv.retention``) and stores it, with the assumptions it rested on, in the
run's details; /stats reads the last finished run and shows it (nothing before the first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.config import ScoringSettings
from bot.db.models import ScoringRun
from bot.services.context import Business

if TYPE_CHECKING:  # /stats reads stored numbers: no numpy at start-up
    from scoring.clv.retention import RetentionWhatIf

DETAILS_KEY = "retention_whatif"


@dataclass(frozen=True)
class RetentionView:
    """What /stats shows: lifetime profit at today's retention and at +5 points."""

    computed_at: datetime
    retention_pct: float  # today's mean chance of staying after a purchase, in percent
    raised_pct: float
    typical_today: Decimal  # one typical new customer, first purchase included
    typical_raised: Decimal
    typical_uplift_pct: float | None
    base_today: Decimal  # today's customers, their future purchases
    base_raised: Decimal
    base_uplift_pct: float | None
    customers: int
    own_model: bool  # False: too few repeat buyers, the reference model's shape
    margin_pct: float
    discount_pct: float  # per month
    horizon_months: int


def whatif_details(
    whatif: RetentionWhatIf | None, method: str, cfg: ScoringSettings
) -> dict[str, Any] | None:
    """The JSON the scoring job stores under ``DETAILS_KEY``, with the settings it rested
    on (None: nobody bought yet)."""
    from scoring.clv.lifetime_value import MODEL_METHODS  # the job has loaded scoring

    if whatif is None:
        return None
    return {
        "retention": round(whatif.retention, 6),
        "raised_retention": round(whatif.raised_retention, 6),
        "typical_today": round(whatif.typical_today, 2),
        "typical_raised": round(whatif.typical_raised, 2),
        "base_today": round(whatif.base_today, 2),
        "base_raised": round(whatif.base_raised, 2),
        "customers": whatif.customers,
        "method": method,
        "own_model": method in MODEL_METHODS,
        "margin": cfg.clv_margin,
        "discount_rate": cfg.clv_discount_rate,
        "horizon_months": cfg.clv_horizon_months,
    }


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _uplift(today: Decimal, raised: Decimal) -> float | None:
    return None if today <= 0 else 100.0 * float(raised / today - 1)


async def last_whatif(biz: Business) -> RetentionView | None:
    """The what-if of the last finished scoring run, or None (none yet, or nobody bought)."""
    async with biz.db.read() as session:
        row = (
            await session.execute(
                select(ScoringRun.finished_at, ScoringRun.details)
                .where(ScoringRun.status == "done")
                .order_by(ScoringRun.id.desc())
                .limit(1)
            )
        ).first()
    if row is None or not isinstance(row.details, dict):
        return None
    data = row.details.get(DETAILS_KEY)
    if not isinstance(data, dict):
        return None
    typical = _money(data["typical_today"]), _money(data["typical_raised"])
    base = _money(data["base_today"]), _money(data["base_raised"])
    return RetentionView(
        computed_at=row.finished_at,
        retention_pct=100.0 * float(data["retention"]),
        raised_pct=100.0 * float(data["raised_retention"]),
        typical_today=typical[0],
        typical_raised=typical[1],
        typical_uplift_pct=_uplift(*typical),
        base_today=base[0],
        base_raised=base[1],
        base_uplift_pct=_uplift(*base),
        customers=int(data["customers"]),
        own_model=bool(data.get("own_model")),
        margin_pct=100.0 * float(data["margin"]),
        discount_pct=100.0 * float(data["discount_rate"]),
        horizon_months=int(data["horizon_months"]),
    )

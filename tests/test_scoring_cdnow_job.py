"""The scoring job's own path on CDNOW's raw transactions reproduces the published fits.

Raw purchases (tests/data/CDNOW_sample.txt, see tests/data/README.md) are written to the
database as purchase rows; the job's aggregates (one GROUP BY) and its scoring step fit
the modified BG/NBD and Gamma-Gamma. Both must land on the reference parameters, fitted on
the inputs the models define (Fader, Hardie & Lee 2005; lifetimes'
``summary_data_from_transaction_data``): transactions grouped per period (a day here),
frequency = days with purchases - 1, and Gamma-Gamma's value = the mean of the per-day
totals of the repeat days, the first day excluded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import insert

from bot.db.engine import Database
from bot.db.models import Customer, Outlet, Purchase
from bot.services.insight.scoring_aggregates import aggregate
from bot.services.insight.scoring_job import score_settings
from bot.services.local_days import LocalDays
from scoring import score
from tests.conftest import BACKENDS, make_settings

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

RAW = Path(__file__).resolve().parent / "data" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)  # 39 weeks after 1997-01-01: T = 38.86 weeks for day 1
ZONE = ZoneInfo("Europe/Moscow")  # the test settings' zone
REFERENCE_MBGNBD = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}  # alpha per week
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
SMALLEST_AMOUNT = Decimal("0.01")


def _raw() -> list[tuple[int, date, Decimal]]:
    """(customer, day, amount) of every calibration-period transaction."""
    rows = []
    for line in RAW.read_text().splitlines():
        _, customer, day, _, amount = line.split()
        when = datetime.strptime(day, "%Y%m%d").date()
        if when <= CALIBRATION_END:
            rows.append((int(customer), when, Decimal(amount)))
    return rows


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), ZONE).astimezone(UTC)


async def _load(db: Database) -> None:
    """Every customer and transaction as rows of the app's own tables.

    Eight customers' only order is 0.00 (free items); the purchases table takes amounts
    above zero, so they are stored at 0.01: they stay one-time buyers, which is all the
    models see of them (Gamma-Gamma ignores customers without repeat purchases).
    """
    rows = _raw()
    customers = sorted({c for c, _, _ in rows})
    async with db.write() as session:
        if await session.get(Outlet, "main") is None:
            session.add(Outlet(code="main", name="Main"))
            await session.flush()
        await session.execute(
            insert(Customer),
            [
                {
                    "id": c,
                    "card_code": f"CD{c:05d}",
                    "name": f"cdnow {c}",
                    "language": "en",
                    "balance": 0,
                    "created_at": _noon(date(1996, 12, 31)),
                }
                for c in customers
            ],
        )
        await session.execute(
            insert(Purchase),
            [
                {
                    "customer_id": c,
                    "author_tg_id": 1,
                    "outlet_code": "main",
                    "amount": max(amount, SMALLEST_AMOUNT),
                    "refunded_amount": Decimal("0"),
                    "points_earned": 0,
                    "points_redeemed": 0,
                    "created_at": _noon(day),
                }
                for c, day, amount in rows
            ],
        )


async def test_job_fits_cdnow_raw_transactions_to_the_published_parameters(
    database: Database, db_url: str
) -> None:
    """Modified BG/NBD (Batislam et al. 2007; BTYDplus ``mbgnbd``): r = 0.525, alpha =
    6.183 (weeks), a = 0.891, b = 1.614; Fader & Hardie (2013, note 025): Gamma-Gamma
    p = 6.25, q = 3.74, gamma = 15.44 on the 946 repeat buyers. The job works in days, so
    its alpha is 7 times the weekly one; r, a, b, p, q, gamma do not depend on the time
    unit.

    Gamma-Gamma's input is each customer's mean REPEAT value at the granularity of the
    frequency: customer 1 bought 29.33 on 1997-01-01, 29.73 on 01-18 and 14.96 on 08-02
    (x = 2), so his value is (29.73 + 14.96) / 2 = 22.35, not the mean of all three."""
    await _load(database)
    cfg = make_settings(db_url).scoring
    now = datetime.combine(CALIBRATION_END, time(23), ZONE).astimezone(UTC)
    days = LocalDays.around(ZONE, now)
    async with database.engine.connect() as conn:
        agg = await aggregate(conn, now, days, with_months=False)
    scores = score(agg, float(days.day_of(now)), score_settings(cfg))
    assert scores.clv is not None and scores.clv.model_based
    purchases, value = scores.clv.purchases_fit, scores.clv.value_fit
    assert purchases.params is not None and value.params is not None
    assert (purchases.support.n_customers, purchases.support.n_repeat_buyers) == (2357, 946)
    assert value.support.n_repeat_buyers == 946
    for name, published in REFERENCE_MBGNBD.items():
        fitted = getattr(purchases.params, name) / (7.0 if name == "alpha" else 1.0)
        assert fitted == pytest.approx(published, rel=0.01), name
    for name, published in PUBLISHED_GG.items():
        assert getattr(value.params, name) == pytest.approx(published, rel=0.01), name
    first = int(np.searchsorted(agg.customer_id, 1))
    assert scores.repeat_value[first] == pytest.approx(22.345)
    # the retention what-if rests on the same fit: b / (a + b), then 5 points more
    assert scores.whatif is not None
    assert scores.whatif.retention == pytest.approx(1.614 / 2.505, rel=0.01)
    assert scores.whatif.typical_raised > scores.whatif.typical_today > 0

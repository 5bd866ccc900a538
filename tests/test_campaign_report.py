"""/campaigns: delivery counts and the uplift against the holdout (issue 12: "purchases
and revenue within N days for recipients versus the holdout, with the uplift and a
confidence interval (say which method)"; "holdout randomisation and the uplift arithmetic
against a hand-computed example")."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.db.models import (
    Campaign,
    CampaignKind,
    CampaignMember,
    Customer,
    Offer,
    OutboxMessage,
    Purchase,
)
from bot.services.campaigns.enrolment import is_held_out, source_of
from bot.services.campaigns.report import recent
from bot.services.outbox.delivery_queue import BLOCKED_ERROR
from scoring.uplift import mean_difference, proportion_difference, wilson
from tests.conftest import BACKENDS
from tests.support.harness import OWNER_ID, App

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_newcombe_interval_matches_the_published_example() -> None:
    """Newcombe (1998), Statistics in Medicine 17:873, Table II, example (a): 56/70 against
    48/80, method 10 (hybrid score): 0.0524 to 0.3339."""
    interval = proportion_difference(56, 70, 48, 80)
    assert interval is not None
    assert interval.estimate == pytest.approx(0.2)
    assert interval.low == pytest.approx(0.0524, abs=5e-5)
    assert interval.high == pytest.approx(0.3339, abs=5e-5)
    # Wilson for 0 of 10 (Newcombe 1998b, Table I): 0 to 0.2775
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)
    assert proportion_difference(1, 0, 1, 2) is None


def test_welch_interval_by_hand() -> None:
    """[0, 0, 100, 200] against [0, 50, 100]: means 75 and 50, sample variances 27500/3 and
    2500; standard error sqrt(27500/12 + 2500/3) = sqrt(3125) = 55.9017; half width
    1.959964 * 55.9017 = 109.565."""
    interval = mean_difference([0, 0, 100, 200], [0, 50, 100])
    assert interval is not None
    assert interval.estimate == pytest.approx(25)
    assert interval.high - interval.estimate == pytest.approx(1.959964 * math.sqrt(3125), rel=1e-6)
    assert interval.low == pytest.approx(25 - 109.565, abs=1e-3)
    assert mean_difference([1], [1, 2]) is None


def test_holdout_share_is_near_the_percent_and_stable() -> None:
    """Hash of (campaign, customer): about ``percent`` of any large group, the same on
    every call, and different campaigns hold out different people."""
    held = [c for c in range(20_000) if is_held_out(7, c, 10)]
    assert 0.09 < len(held) / 20_000 < 0.11
    assert held == [c for c in range(20_000) if is_held_out(7, c, 10)]
    other = {c for c in range(20_000) if is_held_out(8, c, 10)}
    assert 0.05 < len(other & set(held)) / len(held) < 0.15  # independent: about 10 %
    assert not any(is_held_out(7, c, 0) for c in range(1000))


async def _customer(session, n: int) -> int:  # type: ignore[no-untyped-def]
    customer = Customer(telegram_id=8000 + n, card_code=f"RP{n:04d}", name=f"c{n}",
                        language="en", balance=0, created_at=NOW - timedelta(days=300))  # fmt: skip
    session.add(customer)
    await session.flush()
    return customer.id


def _purchase(customer_id: int, days_after: float, amount: int, refunded: int = 0) -> Purchase:
    return Purchase(customer_id=customer_id, author_tg_id=1, outlet_code="main",
                    amount=Decimal(amount), refunded_amount=Decimal(refunded),
                    created_at=NOW + timedelta(days=days_after))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_report_counts_live_purchases_in_the_window_by_hand(app: App) -> None:
    """Recipients a, b, c, d; holdout e, f; window 14 days (``report_days``) from NOW.
    a: 100 on day 1 and 200 refunded 50 on day 3 -> bought, 250 net; b: 80 on day 20 (after
    the window) -> not; c: 90 on day 2 refunded in full -> not; d: 70 a day BEFORE -> not.
    e: 50 on day 13 -> bought; f: nothing. Recipients bought 1 of 4 (25 %), revenue
    [250, 0, 0, 0]; holdout 1 of 2 (50 %), [50, 0]. Uplift -25 pp; revenue per customer
    62.50 - 25.00 = 37.50."""
    async with app.biz.db.write() as session:
        campaign = Campaign(kind=CampaignKind.JOB, name="winback", holdout_percent=10,
                            state="active", created_at=NOW)  # fmt: skip
        session.add(campaign)
        await session.flush()
        ids = [await _customer(session, n) for n in range(6)]
        for n, cid in enumerate(ids):
            session.add(CampaignMember(campaign_id=campaign.id, customer_id=cid,
                                       occurrence="2026-01-15", held_out=n >= 4,
                                       enrolled_at=NOW))  # fmt: skip
        a, b, c, d, e, _f = ids
        session.add_all([
            _purchase(a, 1, 100), _purchase(a, 3, 200, refunded=50), _purchase(b, 20, 80),
            _purchase(c, 2, 90, refunded=90), _purchase(d, -1, 70), _purchase(e, 13, 50),
        ])  # fmt: skip
        source = source_of(campaign.id)
        for state, error in [("sent", None), ("sent", None), ("failed", BLOCKED_ERROR +
                             "Telegram server says - Forbidden: bot was blocked by the user"),
                             ("failed", "Bad Request"), ("cancelled", None)]:  # fmt: skip
            session.add(OutboxMessage(chat_id=1, text="x", state=state, last_error=error,
                                      created_at=NOW, source=source, kind="winback"))  # fmt: skip
        for used in (True, False):
            session.add(Offer(code=f"OFFER{int(used)}X", customer_id=a, kind="points",
                              value=Decimal(10), valid_from=NOW, valid_until=NOW + timedelta(7),
                              source=source, created_at=NOW,
                              used_at=NOW + timedelta(days=1) if used else None))  # fmt: skip
    app.clock.current = NOW + timedelta(days=30)
    [report] = await recent(app.biz)
    assert (report.delivered, report.blocked, report.failed, report.stopped) == (2, 1, 1, 1)
    assert (report.offers_made, report.offers_used) == (2, 1)
    r, h = report.recipients, report.holdout
    assert (r.customers, r.buyers, r.purchases, r.revenue) == (4, 1, 2, Decimal("250.00"))
    assert (h.customers, h.buyers, h.purchases, h.revenue) == (2, 1, 1, Decimal("50.00"))
    assert report.conversion_uplift is not None and report.revenue_uplift is not None
    assert report.conversion_uplift.estimate == pytest.approx(-25.0)
    expected = proportion_difference(1, 4, 1, 2)
    assert expected is not None
    assert report.conversion_uplift.low == pytest.approx(100 * expected.low)
    assert report.revenue_uplift.estimate == pytest.approx(37.5)
    assert not report.window_open

    await app.owner.send("/campaigns")
    shown = app.fake.last(OWNER_ID).text
    assert f"#{report.campaign_id} winback" in shown
    assert "Delivered 2, blocked 1, failed 1, not sent 1" in shown
    assert "offers used 1 of 2" in shown
    assert "-25.0 pp" in shown and "Newcombe" in shown


async def test_campaigns_without_any(app: App) -> None:
    await app.owner.send("/campaigns")
    assert "No campaigns yet" in app.fake.last(OWNER_ID).text

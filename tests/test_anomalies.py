"""Anomaly alerts to the owners (issue 22, item 8), each with the staff member, the
customer's card code and the figures, raised by the scan job
(``bot.services.insight.anomaly_scan``) from what was committed since its last run, once
per occurrence; and ``/stats staff`` with purchases, amount, refunds, redemptions, alerts
and CSAT per staff member.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot.db.models import StaffAlert
from bot.services.insight.anomaly_scan import scan
from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App

CASHIER, OTHER_CASHIER = 6001, 6002
CONTROLS = {
    "caps": {"staff": {"amount": "10000"}},
    "opening_hours": "09:00-21:00",
    "burst_purchases": 3,
    "burst_minutes": 10,
    "favourite_min_purchases": 3,
    "favourite_factor": "2",
}


def _watched(app: App, **controls: Any) -> App:
    settings = make_settings(
        app.biz.settings.database.url, controls=CONTROLS | controls,
        business={"default_language": "en"},
    )  # fmt: skip
    return app.variant(settings)


async def _alerts(app: App) -> list[str]:
    async with app.biz.db.read() as session:
        return list(await session.scalars(select(StaffAlert.kind).order_by(StaffAlert.id)))


async def _owner_alerts(app: App) -> list[str]:
    await app.deliver()
    return [t for t in app.fake.texts(OWNER_ID) if t.startswith("⚠️")]


async def _cashier(app: App, user_id: int = CASHIER, name: str = "Olga") -> ChatUser:
    cashier = app.user(user_id, "en", name)
    await hire(app, cashier)
    return cashier


async def _confirm(app: App, user: ChatUser) -> None:
    await app.deliver()
    prompt = next(c for c in reversed(app.fake.sent(user.user_id))
                  if any("Confirm" in label for label, _ in buttons(c)))  # fmt: skip
    await user.click(find_button(prompt, "Confirm"), prompt)


async def test_a_burst_and_a_day_just_under_the_cap_alert_the_owners_once(app: App) -> None:
    app = _watched(app)
    assert await scan(app.biz) == 0  # the first scan starts at the tables' ends
    user = app.user(5001, "en")
    customer = await join(app, user)
    cashier = await _cashier(app)
    for _ in range(3):
        await cashier.send(f"/purchase {customer.card_code} 3000")
        app.clock.advance(timedelta(minutes=2))
    assert "Purchase №3 recorded" in app.fake.last(CASHIER).text
    assert await _owner_alerts(app) == []  # nothing until the scan: off the purchase path
    assert await scan(app.biz) == 2
    assert await _alerts(app) == ["burst", "near_cap"]
    burst, near = await _owner_alerts(app)
    assert "3 purchases to one customer within 10 min" in burst and "9,000" in burst
    assert "Olga" in burst and customer.card_code in burst
    assert "just under the daily cap" in near and "10,000" in near
    await cashier.send(f"/purchase {customer.card_code} 500")  # the same burst, same day
    assert await scan(app.biz) == 0
    assert await scan(app.biz) == 0
    assert len(await _owner_alerts(app)) == 2


async def test_spread_purchases_under_the_cap_raise_nothing(app: App) -> None:
    app = _watched(app)
    await scan(app.biz)
    customer = await join(app, app.user(5001, "en"))
    cashier = await _cashier(app)
    for _ in range(3):
        await cashier.send(f"/purchase {customer.card_code} 1000")
        app.clock.advance(timedelta(minutes=11))
    assert await scan(app.biz) == 0
    assert await _alerts(app) == []


async def test_one_customer_served_far_more_often_than_the_norm(app: App) -> None:
    """Four pairs of staff member and customer in 30 days, six purchases: the norm is 1.5
    per pair; Olga's third purchase to one customer is twice that (factor 2)."""
    app = _watched(app)
    await scan(app.biz)
    customers = [await join(app, app.user(5001 + n, "en")) for n in range(4)]
    cashier = await _cashier(app)
    for other in customers[1:]:
        await cashier.send(f"/purchase {other.card_code} 500")
    for _ in range(3):
        app.clock.advance(timedelta(days=1))
        await cashier.send(f"/purchase {customers[0].card_code} 500")
    assert await scan(app.biz) == 1
    (text,) = await _owner_alerts(app)
    assert "3 purchases to one customer in 30 days" in text and "1.5" in text
    assert customers[0].card_code in text and "Olga" in text


async def test_a_redemption_after_hours_and_a_refund_soon_after_one(app: App) -> None:
    app = _watched(app)
    await scan(app.biz)
    user = app.user(5001, "en")
    customer = await join(app, user)
    cashier = await _cashier(app)
    await cashier.send(f"/purchase {customer.card_code} 2000")  # 15:00 in Moscow: 100 points
    await cashier.send(f"/redeem {customer.card_code} 20")
    await _confirm(app, user)  # within opening hours
    app.clock.advance(timedelta(minutes=5))
    await cashier.send("/refund 1 500")
    app.clock.advance(timedelta(hours=7))  # 22:05 in Moscow
    await cashier.send(f"/redeem {customer.card_code} 10")
    await _confirm(app, user)
    assert await scan(app.biz) == 2
    assert await _alerts(app) == ["refund_after_redeem", "after_hours"]  # audit order
    texts = await _owner_alerts(app)
    refund = next(t for t in texts if t.startswith("⚠️ Refund"))
    assert "purchase №1" in refund and "5 min after a redemption of 20 points" in refund
    late = next(t for t in texts if "outside opening hours" in t)
    assert "10 points at 22:05" in late and "09:00-21:00" in late
    assert all("Olga" in t and customer.card_code in t for t in texts)


async def test_stats_staff_shows_each_staff_members_figures(app: App) -> None:
    app = _watched(app)
    await scan(app.biz)
    user = app.user(5001, "en")
    customer = await join(app, user)
    olga, ivan = await _cashier(app), await _cashier(app, OTHER_CASHIER, "Ivan")
    for _ in range(3):
        await olga.send(f"/purchase {customer.card_code} 3000")
    await ivan.send(f"/purchase {customer.card_code} 1500")
    await ivan.send(f"/redeem {customer.card_code} 50")
    await _confirm(app, user)
    await olga.send("/refund 1 100")
    await scan(app.biz)
    await app.owner.send("/stats staff")
    report = next(t for t in app.fake.texts(OWNER_ID) if t.startswith("By staff member"))
    # Olga's alerts: the burst, the day near the cap, her refund soon after Ivan's redemption
    assert "Olga: 3, ₽9,000.00, refunds 1, redemptions 0, alerts 3, CSAT —\n" in report
    assert "Ivan: 1, ₽1,500.00, refunds 0, redemptions 1, alerts 0, CSAT —" in report
    assert report.index("Olga") < report.index("Ivan")
    await app.owner.send("/stats staff 0")  # bad input: the usage, nothing more
    assert "staff [days]" in app.fake.last(OWNER_ID).text
    async with app.biz.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(StaffAlert)) == 3

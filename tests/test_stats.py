"""The owner's /stats (and /kpi, its alias): figures against hand-built customer sets and
hand computations, points liability on the product's own path (purchases, redemptions,
refunds, corrections, expiry), the weekly chart as a real PNG, period buttons, and bad
period arguments answered with the usage and nothing written."""

from __future__ import annotations

import gc
import struct
import threading
import zlib
from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from sqlalchemy import func, select, update

from bot import charts
from bot.db.models import Customer, Purchase
from bot.services.insight import stats
from bot.services.insight.kpis import Period
from bot.services.money import expiry
from bot.testing.telegram_double import Call, buttons, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App
from tests.support.seed_data import add_customer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CASHIER, IVAN = 6001, 5001


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and the
    chunk's CRC (a truncated or garbled file fails here)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(kind + body) == crc
    width, height = struct.unpack(">II", body[:8])
    return width, height


def photos(app: App) -> list[Call]:
    return [c for c in app.fake.sent(OWNER_ID) if c.method == "sendPhoto"]


async def test_stats_by_hand(app: App, db_url: str) -> None:
    """seed 004: «CRR=(E-N)*100%/S; где E = количество покупателей на конец периода;
    N = количество новых покупателей за период; S = количество покупателей на начало
    периода». Period: the last 30 days; active = bought within 60 days before a moment.

    A bought 50 and 10 days ago; B only 80 days ago (churned); C first bought 5 days ago
    (new); D 45 days ago. S = {A, B, D} = 3, E = {A, C, D} = 3, N = {C} = 1 →
    CRR = (3 − 1) / 3 = 66.7 %, churn 1/3 = 33.3 %; in the period 2 purchases (A 300,
    C 100) by 2 buyers → average check 200, repeat rate 50 % (A bought on two days).
    Members: A, B, C, D, plus E who joined 3 days ago without buying = 5; F has not
    finished sign-up and G used /forget: neither is a member. New members: E only.
    Weeks (counted back from today): C's 100 and E's joining in the last week (days
    0–6 ago), A's 300 in the week of days 7–13 ago."""
    settings = make_settings(db_url, scoring={"active_window_days": 60})
    variant = app.variant(settings)
    now = app.clock.now()
    db = variant.biz.db
    await add_customer(db, now, "A", purchases=[(50, "500"), (10, "300")])
    await add_customer(db, now, "B", purchases=[(80, "700")])
    await add_customer(db, now, "C", purchases=[(5, "100")])
    await add_customer(db, now, "D", purchases=[(45, "50")])
    await add_customer(db, now, "E", joined_days_ago=3)
    unfinished = await add_customer(db, now, "F", joined_days_ago=2)
    forgotten = await add_customer(db, now, "G", joined_days_ago=4)
    async with db.write() as session:
        await session.execute(
            update(Customer).where(Customer.id == unfinished).values(signup_step="name")
        )
        await session.execute(
            update(Customer).where(Customer.id == forgotten).values(erased_at=now)
        )
    await variant.owner.send("/stats")
    report = app.fake.last(OWNER_ID).text
    assert "Last 30 days:" in report
    assert "Members: 5, joined in the period 1." in report
    assert "(S) 3, at the end (E) 3, new (N) 1" in report
    assert "CRR = (E − N) / S: 66.7%" in report
    assert "Churn: 33.3%" in report and "Repeat purchases: 50.0%" in report
    assert "Purchases 2 by 2 customers, 1.00 each" in report
    assert "Average check: ₽200.00" in report
    # no survey answered (the customers here are not opted in): no number, not 0 %
    assert "share of 4–5 answers): no survey answers. By staff member: /stats staff 30" in report

    weekly = await stats.weekly_series(variant.biz, Period.last_days(variant.biz, 30))
    assert len(weekly.starts) == 5  # 30 days: four weeks and a first one of 2 days
    assert weekly.purchases == [0, 0, 0, 1, 1]
    assert weekly.revenue == [0, 0, 0, Decimal("300.00"), Decimal("100.00")]
    assert weekly.new_members == [0, 0, 0, 0, 1]
    assert weekly.starts[-1] == weekly.starts[-2] + timedelta(days=7)


async def test_chart_sent_as_a_png_photo_of_the_expected_size(app: App) -> None:
    """The chart comes before the report (the report with its buttons stays last): a
    PNG that decodes, 800 × 600, drawn with no figure left alive afterwards."""
    now = app.clock.now()
    await add_customer(app.biz.db, now, "A", purchases=[(1, "100"), (20, "250")])
    await app.owner.send("/stats 90")
    sent = app.fake.sent(OWNER_ID)
    assert [c.method for c in sent[-2:]] == ["sendPhoto", "sendMessage"]
    photo = sent[-2]
    assert "per week, last 90 days" in (photo.text or "")
    data = app.fake.uploaded(photo)
    assert png_size(data) == (800, 600)
    pixels = imread(BytesIO(data), format="png")
    assert pixels.shape[:2] == (600, 800)
    assert pixels.std() > 0  # something was drawn, not a blank canvas
    gc.collect()
    assert not [obj for obj in gc.get_objects() if isinstance(obj, Figure)]


async def test_the_chart_is_drawn_off_the_event_loop(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawing is CPU work: the real chart function runs in a worker thread."""
    threads: list[threading.Thread] = []
    real = charts.weekly_chart

    def recording(*args: Any) -> bytes:
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(charts, "weekly_chart", recording)
    await add_customer(app.biz.db, app.clock.now(), "A", purchases=[(1, "100")])
    await app.owner.send("/stats")
    assert threads and threads[0] is not threading.main_thread()
    assert png_size(app.fake.uploaded(photos(app)[-1])) == (800, 600)


def test_charts_decode_and_leave_no_figures() -> None:
    for _ in range(5):
        weekly = charts.weekly_chart(
            "t", ["a", "b"], [charts.Panel("x", [], [1, 2]), charts.Panel("y", [], [0, 3])]
        )
        bars = charts.bars_chart("t", [charts.Panel("x", ["a", "b", "c"], [3, 2, 1])] * 3)
        assert png_size(weekly) == png_size(bars) == (800, 600)
    gc.collect()
    assert not [obj for obj in gc.get_objects() if isinstance(obj, Figure)]


async def test_no_chart_when_nothing_happened(app: App) -> None:
    await app.owner.send("/stats 7")
    assert photos(app) == []
    assert "no active customers at the start" in app.fake.last(OWNER_ID).text


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_points_liability_on_the_product_path(app: App, db_url: str) -> None:
    """Everything through the bot (1 point = 2 money, 5 %, 20 welcome points, 12 months).

    Day 0: Ivan joins (+20 bonus), buys for 1 000 (+25). Day 100: buys for 2 000 (+50).
    Day 200: pays 30 points (confirmed); pays 10 points towards a 400 purchase (380 paid
    earns 9); that purchase is refunded (10 points given back, the 9 taken back); the
    owner corrects −5. FIFO: the bonus and the first purchase's points are spent first,
    so on day 365 the 10 points given back (which keep their original date) expire.

    All time: issued 20 + 25 + 50 + 9 − 9 = 95, redeemed 30 + 10 − 10 = 30, expired 10,
    removed 5 → outstanding 95 − 30 − 10 − 5 = 50 points = 100.00 money, his balance.
    The last 365 days leave out day 0: issued 50 + 9 − 9 = 50, redeemed 30 → 60.0 %."""
    settings = make_settings(
        db_url,
        loyalty={"point_value": "2", "welcome_bonus": 20},
        expiry={"months": 12, "warn_days": 14},
    )
    app = app.variant(settings)
    start = app.clock.now()
    ivan = app.user(IVAN, "en")
    customer = await join(app, ivan)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    code = customer.card_code
    await cashier.send(f"/purchase {code} 1000")
    app.clock.current = start + timedelta(days=100)
    await cashier.send(f"/purchase {code} 2000")
    app.clock.current = start + timedelta(days=200)
    for redeem in (f"/redeem {code} 30", f"/redeem {code} 10 400"):
        await cashier.send(redeem)
        await app.deliver()
        prompt = app.fake.last(IVAN)
        await ivan.click(find_button(prompt, "Confirm"), prompt)
    async with app.biz.db.read() as session:
        last = await session.scalar(select(func.max(Purchase.id)))
    await cashier.send(f"/refund {last}")
    await app.owner.send(f"/adjust {code} -5 correction")
    app.clock.current = start + timedelta(days=365, hours=1)
    assert (await expiry.run_daily(app.biz))["expired"] == 10
    assert await app.balance_consistent()

    everything = await stats.points_flow(app.biz, Period.last_days(app.biz, 400))
    assert (everything.issued, everything.redeemed) == (95, 30)
    assert (everything.expired, everything.removed, everything.outstanding) == (10, 5, 50)
    assert everything.liability == Decimal("100.00")
    assert everything.redemption_pct == pytest.approx(100 * 30 / 95)
    after = await app.customer(telegram_id=IVAN)
    assert after is not None and after.balance == 50

    await app.owner.send("/stats 365")
    report = app.fake.last(OWNER_ID).text
    assert "Points issued 50, redeemed 30, expired 10, removed by corrections 5." in report
    assert "Redemption rate: 60.0%" in report
    assert "Points outstanding: 50, worth ₽100.00" in report


async def test_forgotten_customers_points_are_owed_to_nobody(app: App, db_url: str) -> None:
    """Two members get 20 welcome points each; one uses /forget: issued 40, outstanding 20."""
    app = app.variant(make_settings(db_url, loyalty={"welcome_bonus": 20}))
    await join(app, app.user(IVAN, "en"))
    leaving = app.user(5002, "en")
    await join(app, leaving, name="Petr")
    await leaving.send("/forget")
    await leaving.click(find_button(app.fake.last(5002), "Yes, erase"), app.fake.last(5002))
    assert "has been erased" in app.fake.last(5002).text
    flow = await stats.points_flow(app.biz, Period.last_days(app.biz, 30))
    assert (flow.issued, flow.outstanding, flow.liability) == (40, 20, Decimal("20.00"))


async def test_period_buttons(app: App) -> None:
    now = app.clock.now()
    await add_customer(app.biz.db, now, "A", purchases=[(60, "100"), (3, "200")])
    await app.owner.send("/stats")
    report = app.fake.last(OWNER_ID)
    assert [label for label, _ in buttons(report)] == ["7 days", "30 days", "90 days", "365 days"]
    await app.owner.click(find_button(report, "90 days"), report)
    assert "Last 90 days:" in app.fake.last(OWNER_ID).text
    assert "Purchases 2 by 1 customer" in app.fake.last(OWNER_ID).text
    before = await app.counts(include_audit=True)
    sent = len(app.fake.sent(OWNER_ID))
    for forged in ("stp:0", "stp:-7", "stp:99999", "stp:abc", "stp:30:1"):
        await app.owner.click(forged, report)
    assert len(app.fake.sent(OWNER_ID)) == sent  # no report for a forged period
    assert await app.counts(include_audit=True) == before


BAD_PERIODS = [
    "0", "-5", "3651", "99999", "abc", "1e3", "+30", "7 30", "30; DROP TABLE customers",
    "<b>7</b>", "٣٠", "３０", "²", "0x1F", "9" * 400, "30.5",
]  # fmt: skip


@pytest.mark.parametrize("arg", BAD_PERIODS)
async def test_bad_period_answered_with_usage(app: App, arg: str) -> None:
    before = await app.counts(include_audit=True)
    await app.owner.send(f"/stats {arg}")
    assert "days from 1 to 3650" in app.fake.last(OWNER_ID).text
    assert photos(app) == []
    assert await app.counts(include_audit=True) == before


async def test_usage_in_russian_and_via_the_alias(app: App) -> None:
    owner_ru = app.user(OWNER_ID, "ru", "Owner")
    before = await app.counts(include_audit=True)
    await owner_ru.send("/stats -1")
    assert "от 1 до 3650" in app.fake.last(OWNER_ID).text
    await app.owner.send("/kpi 4000")
    assert "<code>/stats [days]</code>" in app.fake.last(OWNER_ID).text
    assert await app.counts(include_audit=True) == before


async def test_boundaries_accepted(app: App) -> None:
    for days, heading in (
        ("1", "Last 1 day:"),
        ("3650", "Last 3,650 days:"),
        (" 7 ", "Last 7 days:"),
    ):
        await app.owner.send(f"/stats {days}")
        assert app.fake.last(OWNER_ID).text.startswith(heading)


async def test_russian_report(app: App) -> None:
    now = app.clock.now()
    await add_customer(app.biz.db, now, "A", purchases=[(3, "200")])
    await app.user(OWNER_ID, "ru", "Owner").send("/stats 30")
    report = app.fake.last(OWNER_ID).text
    assert "За последние 30 дн.:" in report
    assert "Баллов на счетах клиентов: 0" in report
    assert "(CSAT, доля оценок 4–5): ответов на опросы нет" in report
    assert "по неделям" in (photos(app)[-1].text or "")

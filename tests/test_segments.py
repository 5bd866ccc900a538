"""The owner's /segments against a hand-built set of scores: counts per RFM segment,
stage, value and seed 001 strategy (with the source's words for what it means to do),
the chart as a real PNG, and a button per group carrying ``SegmentAudience``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from io import BytesIO

import pytest
from matplotlib.image import imread
from sqlalchemy import update

from bot.db.engine import Database
from bot.db.models import Customer, CustomerScore
from bot.testing.telegram_double import buttons
from handlers.segments import SegmentAudience
from tests.conftest import BACKENDS
from tests.support.harness import OWNER_ID, App
from tests.support.seed_data import add_customer
from tests.test_stats import png_size

# (segment, lifecycle, value, strategy) per customer; the last one used /forget.
SCORES = [
    ("champions", "partner", "high", "reward_and_invest"),
    ("champions", "reliable_friend", "high", "reward_and_invest"),
    ("champions", "client", "medium", "manage"),
    ("lost", "lapsed", "low", "release"),
    ("no_purchases", "potential", "unrated", "none"),
]
FORGOTTEN = ("champions", "partner", "high", "reward_and_invest")


async def _scored(db: Database, now: datetime, labels: tuple[str, str, str, str]) -> int:
    customer_id = await add_customer(db, now, "X")
    segment, lifecycle, value, strategy = labels
    async with db.write() as session:
        session.add(
            CustomerScore(
                customer_id=customer_id, computed_at=now, purchases=1,
                total_spend=Decimal("100"), average_check=Decimal("100"),
                days_since_first=None, days_since_last=None, recency=1, frequency=1,
                monetary=1, rfm_code="111", segment=segment, lifecycle=lifecycle,
                lapsed=lifecycle == "lapsed", value=value, strategy=strategy,
                service="none", clv=None, p_alive=None, expected_purchases=None,
                clv_method="mbg_nbd_prior", rating_points=None, rating_category=None,
            )
        )  # fmt: skip
    return customer_id


async def _world(app: App) -> None:
    now = app.clock.now()
    for labels in SCORES:
        await _scored(app.biz.db, now, labels)
    gone = await _scored(app.biz.db, now, FORGOTTEN)
    async with app.biz.db.write() as session:
        await session.execute(update(Customer).where(Customer.id == gone).values(erased_at=now))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_counts_by_hand(app: App) -> None:
    """Five scored customers (a sixth used /forget and is not counted): champions 3 (two
    to reward and invest, one to manage: the segment's main strategy is reward and
    invest), lost 1 (release), no purchases 1 (no strategy)."""
    await _world(app)
    await app.owner.send("/segments")
    photo, report = app.fake.sent(OWNER_ID)[-2:]
    assert photo.method == "sendPhoto" and "(5 scored)" in (photo.text or "")
    data = app.fake.uploaded(photo)
    assert png_size(data) == (800, 600)
    assert imread(BytesIO(data), format="png").shape[:2] == (600, 800)
    text = report.text or ""
    assert "(5 customers; /rescore updates it)" in text
    for line in (
        "• Champions: 3 → Reward and invest",
        "• Lost: 1 → Release",
        "• No purchases: 1\n",
        "• partner: 1",
        "• lapsed (former): 1",
        "• high: 2",
        "• not rated (no purchases): 1",
        "• <i>Reward and invest</i> — 2. For customers who by every sign may become profitable",
        "• <i>Manage</i> — 1. For customers who are profitable now",
        "• <i>Release</i> — 1. Letting go of customers of no interest",
        "• no strategy (not rated: no purchases) — 1",
    ):
        assert line in text, line
    labels = dict(buttons(report))
    assert (
        labels["📣 Champions · 3"] == SegmentAudience(dimension="segment", value="champions").pack()
    )
    assert labels["📣 Reward and invest · 2"] == "seg:strategy:reward_and_invest"
    assert labels["📣 stage: lapsed (former) · 1"] == "seg:lifecycle:lapsed"
    assert labels["📣 value: high · 2"] == "seg:value:high"
    assert len(labels) == 3 + 5 + 4 + 4


async def test_seed_001_wording_in_russian(app: App) -> None:
    """Seed 001, table 1: «Вознаграждать и вкладывать — Для тех потребителей, которые по
    всем признакам могут оказаться прибыльными в будущем.»"""
    await _world(app)
    await app.user(OWNER_ID, "ru", "Owner").send("/segments")
    text = app.fake.last(OWNER_ID).text
    assert "• Чемпионы: 3 → Вознаграждать и вкладывать" in text
    assert (
        "<i>Вознаграждать и вкладывать</i> — 2. Для тех потребителей, которые по всем "
        "признакам могут оказаться прибыльными в будущем." in text
    )
    assert "«Освобождать»</i> — 1. Отказ от клиентов" in text


async def test_a_segment_button_opens_a_broadcast_to_that_group(app: App) -> None:
    """Issue 12: "each segment one tap from a broadcast to it"."""
    await _world(app)
    await app.owner.send("/segments")
    report = app.fake.last(OWNER_ID)
    before = await app.counts(include_audit=True)
    await app.owner.click(SegmentAudience(dimension="segment", value="champions").pack(), report)
    panel = app.fake.last(OWNER_ID).text
    assert "RFM segment: Champions" in panel and "Customers now:" in panel
    await app.owner.send("/cancel")
    await app.owner.click("seg:value:high", report)
    assert "Value: high" in app.fake.last(OWNER_ID).text
    await app.owner.send("/cancel")
    opened = len(app.fake.sent(OWNER_ID))
    for forged in ("seg:segment:bogus", "seg:evil:<b>x</b>", "seg:value:", "seg:segment"):
        await app.owner.click(forged, report)
        text = app.fake.calls("answerCallbackQuery")[-1].params.get("text", "")
        assert "<b>" not in text and "Customers now" not in text, (forged, text)
    panels = [c for c in app.fake.sent(OWNER_ID)[opened:] if "Customers now" in (c.text or "")]
    assert panels == []  # no wizard opened by a forged button
    assert await app.counts(include_audit=True) == before


async def test_no_scores_yet(app: App) -> None:
    await add_customer(app.biz.db, app.clock.now(), "A", purchases=[(3, "100")])
    await app.owner.send("/segments")
    assert "No scores yet: /rescore" in app.fake.last(OWNER_ID).text
    assert [c for c in app.fake.sent(OWNER_ID) if c.method == "sendPhoto"] == []


async def test_after_a_real_rescore_every_customer_is_in_one_group_per_dimension(
    app: App,
) -> None:
    """The scoring job's own labels: every scored customer is counted once in each of the
    four dimensions (the report and the buttons sum to the number scored)."""
    now = app.clock.now()
    for n in range(12):
        history = [(float(d), "100") for d in range(n % 4 * 30 + 1, 400, 40 + n * 9)]
        await add_customer(app.biz.db, now, f"C{n}", purchases=history)
    await app.owner.send("/rescore")
    await app.dp["background"].wait()
    await app.owner.send("/segments")
    report = app.fake.last(OWNER_ID)
    assert "(12 customers;" in (report.text or "")
    per_dimension: dict[str, int] = {}
    for label, data in buttons(report):
        audience = SegmentAudience.unpack(data)
        per_dimension[audience.dimension] = per_dimension.get(audience.dimension, 0) + int(
            label.rsplit("· ", 1)[1]
        )
    assert per_dimension == {"segment": 12, "lifecycle": 12, "value": 12, "strategy": 12}

"""The exactly-once records (SPEC.md, Rules that need one answer: "kept for a bounded
retention ... and hold ids and numbers, never personal data"): no name or phone is ever
stored in them, a re-delivered update still answers "already recorded" (without the name),
and a daily job drops update claims after the retention while expiry-warning claims stay
until their points have expired, so no warning is ever repeated."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.types import Update
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import ProcessedUpdate
from bot.jobs import DAILY_JOBS
from bot.logs import UpdateIdFilter
from bot.scheduler import build_scheduler
from bot.services.members import retention
from bot.services.money import expiry
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER = 6001
NAME, PHONE = "Евлампия", "+79161234567"
COUNTER_NAME, COUNTER_PHONE = "Акакий", "+79167654321"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, expiry={"months": 12, "warn_days": 14})


async def _stored(app: App) -> dict[str, str]:
    async with app.biz.db.read() as session:
        rows = (await session.execute(select(ProcessedUpdate.key, ProcessedUpdate.result))).all()
    return {key: json.dumps(result, ensure_ascii=False) for key, result in rows}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_stored_results_hold_no_names_or_phones(app: App) -> None:
    ivan = app.user(5001, "en")
    customer = await join(app, ivan, name=NAME, phone=PHONE)
    cashier = app.user(CASHIER, "en", name="Зинаида")
    await hire(app, cashier)
    purchase = cashier.build_message(f"/purchase {customer.card_code} 1000")
    await cashier.feed(purchase)
    assert NAME in app.fake.last(CASHIER).text, "the first answer names the customer"
    await cashier.send(f"/visit {customer.card_code}")
    await cashier.send(f"/redeem {customer.card_code} 5")
    await app.owner.send(f"/adjust {customer.card_code} +10 gift")
    await cashier.send(f"/addcustomer {COUNTER_PHONE} {COUNTER_NAME}")
    assert COUNTER_NAME in app.fake.last(CASHIER).text

    stored = await _stored(app)
    assert len(stored) >= 6
    needles = (NAME, PHONE, PHONE.lstrip("+"), COUNTER_NAME, COUNTER_PHONE.lstrip("+"), "Зинаида")
    leaks = {key: value for key, value in stored.items() for n in needles if n in value}
    assert leaks == {}

    again = Update.model_validate(
        purchase.model_dump(mode="json", exclude_none=True), context={"bot": app.bot}
    )
    await cashier.feed(again)
    answer = app.fake.last(CASHIER).text
    assert "Already recorded" in answer and "Purchase №1 recorded" in answer, answer
    assert NAME not in answer


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_prune_keeps_recent_claims_and_unexpired_warnings(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "CHUNK", 2)  # several transactions, as at full size
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    start = app.clock.now()
    old = cashier.build_message(f"/purchase {customer.card_code} 1000")
    await cashier.feed(old)  # a lot of 50 points, expiring a year later
    old_key = f"u:{old.update_id}"
    assert old_key in await _stored(app)

    app.clock.current = start + timedelta(days=365 - 10)  # inside the 14-day warning window
    assert (await expiry.run_daily(app.biz))["warned"] == 50
    recent = cashier.build_message(f"/visit {customer.card_code}")
    await cashier.feed(recent)

    app.clock.advance(timedelta(days=3) - timedelta(minutes=1))  # the visit: not yet 3 days
    pruned = await retention.prune_processed(app.biz)
    assert pruned["updates"] > 0 and pruned["expiry_warnings"] == 0
    keys = set(await _stored(app))
    assert old_key not in keys and f"u:{recent.update_id}" in keys
    app.clock.advance(timedelta(minutes=2))
    assert await retention.prune_processed(app.biz) == {"updates": 1, "expiry_warnings": 0}
    keys = set(await _stored(app))
    assert [k.split(":")[0] for k in keys] == ["expiry-warning"], "the warning claim stays"
    assert (await expiry.run_daily(app.biz))["warned"] == 0, "warned once only"

    # The lot expired long ago: a year after the warning its claim can go.
    app.clock.current = start + timedelta(days=365 - 10 + 366)
    assert (await retention.prune_processed(app.biz))["expiry_warnings"] == 1
    assert not any(k.startswith(expiry.WARNING_KEY) for k in await _stored(app))


async def test_prune_runs_daily_at_the_configured_time(app: App, db_url: str) -> None:
    biz = app.variant(make_settings(db_url, privacy={"prune_at": "05:10"})).biz
    job = build_scheduler(biz, DAILY_JOBS).get_job("retention")
    assert job is not None
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2026, 1, 16, 2, 10, tzinfo=UTC)  # Moscow UTC+3
    assert biz.settings.privacy.processed_retention_days == 3


async def test_business_events_are_logged_with_the_update_id_and_no_personal_data(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """Purchases, refunds and adjustments are logged at INFO once committed, under the
    update that caused them (the update id every log line carries), with ids and numbers:
    the name and phone stay out, as they do in the stored result."""
    customer = await join(app, app.user(5001, "en"), name="Zinaida", phone="+79165550177")
    cashier = app.user(6001, "en")
    await hire(app, cashier)
    caplog.set_level(logging.INFO, logger="bot.services.idempotency")
    caplog.handler.addFilter(UpdateIdFilter())
    await cashier.send(f"/purchase {customer.card_code} 1000")
    await cashier.send("/refund 1 100")
    await app.owner.send(f"/adjust {customer.card_code} +5 goodwill")
    events = [(r.getMessage().split(":")[0], r.update_id) for r in caplog.records]  # type: ignore[attr-defined]
    assert [e for e, _ in events] == ["purchase", "refund", "adjustment"]
    assert all(uid not in (None, "-") for _, uid in events)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Zinaida" not in logged and "5550177" not in logged and customer.card_code in logged

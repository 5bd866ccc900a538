"""Service reminders and trade-in on a controlled clock (issue 11, Jobs; seed 004).

Seed 004 (004_235a4ca77e3bcda9.txt), personalisation: "Рассылки с персональными
предложениями на сервисное обслуживание ... учитывая марку, модель и год выпуска
автомобиля клиента. Например, «Уважаемый Иван, специально для владельцев LADA Vesta 2020
года – скидка 15% на замену масла до конца месяца!»"; relevance: "Предложение Trade-in в
момент, когда ... пробег его текущего автомобиля достигает определенной отметки".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.db.models import OfferKind
from bot.services.jobs import car as jobs_car
from bot.services.people.mileage import Odometer
from tests.conftest import BACKENDS, make_settings
from tests.support.harness import App
from tests.support.job_rows import (
    CHAT_BASE,
    member,
    members,
    offers_of,
    outbox,
    reading,
    service,
)

VESTA = {"make": "LADA", "model": "Vesta", "year": 2020}
OIL_RULE = {
    "tag": "oil",
    "days": 180,
    "km": 10000,
    "service": {"ru": "замену масла", "en": "an oil change"},
    "offer": {"kind": "percent", "value": "15", "days": None},
}


def variant(app: App, rules: list[dict[str, object]] | None = None, **sections: object) -> App:
    sections.setdefault("campaigns", {"holdout_percent": 0})
    sections.setdefault("reminders", {"rules": rules if rules is not None else [OIL_RULE]})
    return app.variant(make_settings(app.biz.settings.database.url, **sections))  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_seed_004_oil_change_offer_in_both_languages(app: App) -> None:
    """The seed's own example, word for word, 180 days after the last oil change."""
    jobs = variant(app)
    now = app.clock.now()  # 15 Jan 2026
    ru = await member(app.biz.db, 1, now, language="ru", name="Иван", profile=VESTA)
    en = await member(app.biz.db, 2, now, name="Ivan", profile=VESTA)
    for customer in (ru, en):
        await service(app.biz.db, customer.id, "oil", now - timedelta(days=180))
    assert await jobs_car.run_reminders(jobs.biz) == {"candidates": 2, "sent": 2}
    await app.deliver()
    ru_text, en_text = app.fake.last(CHAT_BASE + 1).text, app.fake.last(CHAT_BASE + 2).text
    assert ru_text.splitlines()[0] == (
        "Уважаемый Иван, специально для владельцев LADA Vesta 2020 года – "
        "скидка 15% на замену масла до конца месяца!"
    )
    assert en_text.splitlines()[0] == (
        "Dear Ivan, especially for owners of a 2020 LADA Vesta: "
        "15% off an oil change until the end of the month!"
    )
    [offer] = await offers_of(app.biz.db, ru.id)
    assert (offer.kind, offer.value, offer.service_tag) == (OfferKind.PERCENT, Decimal(15), "oil")
    # "до конца месяца": valid until 1 February 00:00 in Moscow
    assert offer.valid_until == datetime(2026, 1, 31, 21, 0, tzinfo=UTC)
    assert f"<code>{offer.code}</code>" in ru_text
    # the next day, and after a restart: nothing again for the same oil change
    app.clock.advance(timedelta(days=1))
    assert await jobs_car.run_reminders(variant(app).biz) == {"candidates": 2, "already": 2}
    assert len(await outbox(app.biz.db)) == 2


async def test_reminder_without_offer_names_the_car_and_the_last_service(app: App) -> None:
    rule = {k: v for k, v in OIL_RULE.items() if k not in ("offer", "km")}
    jobs = variant(app, rules=[rule])
    now = app.clock.now()
    ivan = await member(app.biz.db, 1, now, profile=VESTA)
    await service(app.biz.db, ivan.id, "oil", now - timedelta(days=181), visit=True)
    assert (await jobs_car.run_reminders(jobs.biz))["sent"] == 1
    await app.deliver()
    assert app.fake.last(CHAT_BASE + 1).text == (
        "Ivan, it is time for an oil change for a 2020 LADA Vesta: the last one was on "
        "Jul 18, 2025. We look forward to your visit!"
    )
    assert await offers_of(app.biz.db, ivan.id) == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_km_rule_comes_before_the_days_rule(app: App) -> None:
    """Readings of 40,000 km 170 days ago and 52,000 km 80 days ago (at the oil change):
    about 4,058 km a month, so 10,000 km since the service were reached ~75 days after it,
    5 days ago (within the 7 days' catch-up), long before the 180 days. At 1,250 km a
    month (also the default run of a customer without readings) 10,000 km take 243 days:
    the 180 days come first."""
    jobs = variant(app)
    now = app.clock.now()
    fast = await member(app.biz.db, 1, now, profile=VESTA)
    slow = await member(app.biz.db, 2, now, profile=VESTA)
    oil_at = now - timedelta(days=80)
    await service(app.biz.db, fast.id, "oil", oil_at)
    await service(app.biz.db, slow.id, "oil", oil_at)
    await reading(app.biz.db, fast.id, 40_000, now - timedelta(days=170), 1250)
    await reading(app.biz.db, fast.id, 52_000, oil_at, 4058)
    await reading(app.biz.db, slow.id, 40_000, oil_at, 1250)  # 1,250 km a month: not yet
    assert await jobs_car.run_reminders(jobs.biz) == {"candidates": 1, "sent": 1}
    assert [m.customer_id for m in await members(app.biz.db)] == [fast.id]
    [enrolled] = await members(app.biz.db)
    assert enrolled.occurrence == "2025-10-27"  # the oil change it follows (local date)


async def test_a_later_service_or_a_stale_one_sends_nothing(app: App) -> None:
    jobs = variant(app)
    now = app.clock.now()
    renewed = await member(app.biz.db, 1, now, profile=VESTA)
    await service(app.biz.db, renewed.id, "oil", now - timedelta(days=185))
    await service(app.biz.db, renewed.id, "oil", now - timedelta(days=20), visit=True)
    stale = await member(app.biz.db, 2, now, profile=VESTA)  # due 70 days ago: too late
    await service(app.biz.db, stale.id, "oil", now - timedelta(days=250))
    other_tag = await member(app.biz.db, 3, now, profile=VESTA)
    await service(app.biz.db, other_tag.id, "wash", now - timedelta(days=200))
    assert await jobs_car.run_reminders(jobs.biz) == {"candidates": 0}
    assert await outbox(app.biz.db) == []


def test_odometer_estimates() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    car = Odometer(((t0, 10_000, 1000), (t0 + timedelta(days=365), 22_000, 1000)))
    assert car.at(t0 - timedelta(days=3650)) == 0  # never below zero going back
    assert car.at(t0 + timedelta(days=365)) == 22_000
    # a year (365 days, 11.99 mean months) after the last reading at 1,000 km a month
    assert car.at(t0 + timedelta(days=730)) == 22_000 + 11_992
    assert Odometer(()).at(t0) is None


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_tradein_once_by_age_or_estimated_mileage(app: App) -> None:
    """Seed 004: trade-in when the mileage reaches a threshold (config: 150,000 km, or a
    car 7 years old). One offer per customer, ever."""
    jobs = variant(
        app,
        tradein={
            "km": 150_000,
            "age_years": 7,
            "offer": {"kind": "fixed", "value": "20000", "days": 14},
        },
    )
    now = app.clock.now()  # 2026
    old = await member(app.biz.db, 1, now, profile={**VESTA, "year": 2019})
    far = await member(app.biz.db, 2, now, name="Olga", profile={**VESTA, "year": 2024})
    await reading(app.biz.db, far.id, 148_000, now - timedelta(days=61), 1250)  # ~150,500 now
    young = await member(app.biz.db, 3, now, profile={**VESTA, "year": 2024})
    await reading(app.biz.db, young.id, 100_000, now - timedelta(days=61), 1250)
    # an old reading's fast run projects 166,000 km; the newest one says 141,000: nothing
    slowed = await member(app.biz.db, 4, now, profile={**VESTA, "year": 2024})
    await reading(app.biz.db, slowed.id, 140_000, now - timedelta(days=400), 2000)
    await reading(app.biz.db, slowed.id, 141_000, now - timedelta(days=10), 100)
    # a year that is no number (a text field, an imported value) is no candidate, and no
    # cast error on PostgreSQL either
    await member(app.biz.db, 5, now, name="Text", profile={**VESTA, "year": "about 2015"})
    assert await jobs_car.run_tradein(jobs.biz) == {"candidates": 3, "sent": 2, "nothing": 1}
    assert sorted(m.customer_id for m in await members(app.biz.db)) == [old.id, far.id]
    await app.deliver()  # within the offer message's deadline (outbox.kinds.tradein)
    app.clock.advance(timedelta(days=30))
    assert await jobs_car.run_tradein(variant(app, tradein={"km": 150_000}).biz) == {
        "candidates": 1,
        "nothing": 1,
    }
    assert app.fake.texts(CHAT_BASE + 1)[0].startswith(
        "Ivan, your car is 7 years old. A good time to think about a new one: "
        "we will value yours for a trade-in.\nFor you: ₽20,000.00 off until Jan 29, 2026\n"
    )
    assert "a 2024 LADA Vesta has run about 150,505 km" in app.fake.texts(CHAT_BASE + 2)[0]
    [offer] = await offers_of(app.biz.db, far.id)
    assert (offer.kind, offer.value) == (OfferKind.FIXED, Decimal(20000))

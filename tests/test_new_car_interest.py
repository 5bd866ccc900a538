"""Trade-in's other trigger (seed 004, 004_235a4ca77e3bcda9.txt): «Предложение Trade-in в
момент, когда клиент начинает интересоваться новой моделью или когда пробег его текущего
автомобиля достигает определенной отметки». The mileage and age triggers are
tests/test_jobs_car.py's; here the "thinking about a new car?" button on /card and under
service reminders, through the dispatcher."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.db.models import CarInterest, Customer
from bot.services.jobs import car as jobs_car
from bot.testing.telegram_double import Call, ChatUser, buttons, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App

KATE, OLGA, STRANGER = 7201, 7202, 7203
OIL = {"tag": "oil", "days": 180, "service": {"ru": "замену масла", "en": "an oil change"}}
TRADEIN_OFFER = {"offer": {"kind": "fixed", "value": "20000", "days": 30}}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url, reminders={"rules": [OIL]}, campaigns={"holdout_percent": 0},
        tradein=TRADEIN_OFFER,
    )  # fmt: skip


def _new_car(call: Call) -> str:
    return next(data for _, data in buttons(call) if data.startswith("nc:"))


async def _opted_in_member(app: App) -> tuple[ChatUser, Customer]:
    kate = app.user(KATE, "en", "Kate")
    customer = await join(app, kate, name="Kate")
    await kate.send("/settings")
    await kate.click(find_button(app.fake.last(KATE), "Send me offers"), app.fake.last(KATE))
    async with app.biz.db.write() as session:  # the sign-up's car questions, answered
        row = await session.get(Customer, customer.id)
        assert row is not None
        row.profile = {"make": "LADA", "model": "Vesta", "year": 2024}
    return kate, customer


async def _interest_rows(app: App) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(CarInterest)) or 0)


def _alerts(app: App, chat_id: int) -> list[str]:
    """The alerts about the interest (owners and staff who never chose a language: ru)."""
    return [t for t in app.fake.texts(chat_id) if "думает о новом автомобиле" in t]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_card_button_alerts_the_owner_once_and_brings_the_trade_in_offer(
    app: App,
) -> None:
    """«Предложение Trade-in в момент, когда клиент начинает интересоваться новой моделью»."""
    kate, _ = await _opted_in_member(app)
    await kate.send("/card")
    card = app.fake.last(KATE)
    assert "Thinking about a new car?" in (card.text or "")
    await kate.click(_new_car(card), card)
    assert "passed on that you are thinking about a new car" in app.fake.last(KATE).text
    assert buttons(app.fake.last(KATE)) == []
    await app.deliver()
    [alert] = _alerts(app, OWNER_ID)
    assert "<b>Kate</b>" in alert and "кнопка в /card" in alert
    assert buttons(app.fake.last(OWNER_ID))[0][1].startswith("cv:"), "the owner can answer"
    offer = app.fake.last(KATE).text
    assert "thank you for telling us about a new car" in offer and "20,000" in offer

    before = await app.counts()
    await kate.click(_new_car(card), card)  # the same button again
    await kate.send("/card")
    assert buttons(app.fake.last(KATE)) == [], "no button once the interest is noted"
    assert await app.counts() == before
    await app.deliver()
    assert len(_alerts(app, OWNER_ID)) == 1
    assert await _interest_rows(app) == 1
    # the trade-in job later finds nothing more to send (once per customer ever)
    app.clock.advance(timedelta(days=3650))
    assert (await jobs_car.run_tradein(app.biz)).get("sent", 0) == 0


async def test_the_reminder_carries_the_button_and_the_manager_hears_first(app: App) -> None:
    olga = app.user(OLGA, "en", "Olga")
    await hire(app, olga)
    kate, customer = await _opted_in_member(app)
    await olga.send(f"/purchase {customer.card_code} 100000 oil")
    await app.owner.send(f"/manager {customer.card_code} {OLGA}")
    app.clock.advance(timedelta(days=180))
    assert (await jobs_car.run_reminders(app.biz)).get("sent") == 1
    await app.deliver()
    reminder = app.fake.last(KATE)
    assert "an oil change" in (reminder.text or "")
    await kate.click(_new_car(reminder), reminder)
    assert "to your manager <b>Olga</b>" in app.fake.last(KATE).text
    await app.deliver()
    [alert] = _alerts(app, OWNER_ID)
    assert "в напоминании о сервисе" in alert and "Персональный менеджер: Olga" in alert
    [to_olga] = _alerts(app, OLGA)
    assert "<b>Kate</b>" in to_olga


async def test_forged_presses_and_strangers_write_nothing(app: App, db_url: str) -> None:
    kate, _ = await _opted_in_member(app)
    await app.deliver()
    before = await app.counts()
    for data in ("nc:hack", "nc:", "nc:card:1", "nc:" + "x" * 60):
        await kate.click(data)
    await app.user(STRANGER, "en").click("nc:card")
    assert await app.counts() == before
    assert await _interest_rows(app) == 0
    assert await app.deliver() == 0, "nobody was alerted"

    boris = app.user(STRANGER, "en", "Boris")
    await join(app, boris, name="Boris")  # no car: nothing below his card
    await boris.send("/card")
    assert app.fake.last(STRANGER).method == "sendPhoto"
    before = await app.counts()

    off = app.variant(make_settings(db_url, tradein={"interest_button": False}))
    kate_off = off.user(KATE, "en", "Kate")
    await kate_off.send("/card")
    assert all(not data.startswith("nc:") for _, data in buttons(off.fake.last(KATE)))
    await kate_off.click("nc:card")
    assert await off.counts() == before

"""The sign-up's mileage answer is the first reading (bot.services.people.mileage): the estimate
starts from it, and a later reading below it is refused at the counter."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import MileageReport
from bot.testing.telegram_double import buttons
from tests.conftest import make_settings
from tests.support.flows import hire
from tests.support.harness import App

FIELDS = [
    {"code": "mileage", "kind": "int", "labels": {"ru": "Пробег", "en": "Mileage"}, "max": 2000000}
]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, profile={"fields": FIELDS})


async def test_signup_mileage_is_a_reading(app: App) -> None:
    user = app.user(5001, "en", "Ivan")
    await user.send("/start")
    await user.click(buttons(app.fake.last(5001))[0][1], app.fake.last(5001))
    await user.send_contact("+79161234567")
    await user.send("Ivan")
    await user.click(buttons(app.fake.last(5001))[0][1], app.fake.last(5001))  # no birthday
    await user.send("85000")
    offers = app.fake.last(5001)  # issue 20: the last question, offers yes or no
    await user.click(buttons(offers)[-1][1], offers)
    customer = await app.customer(telegram_id=5001)
    assert customer is not None and customer.signup_step is None
    async with app.biz.db.read() as session:
        rows = (await session.execute(select(MileageReport.customer_id, MileageReport.km,
                                             MileageReport.author_tg_id))).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [(customer.id, 85000, None)]

    cashier = app.user(6001, "en")
    await hire(app, cashier)
    before = await app.counts()
    await cashier.send(f"/visit {customer.card_code} km:80000")
    assert "below the last one recorded (85,000 km" in app.fake.last(6001).text
    assert await app.counts() == before

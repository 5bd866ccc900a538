"""Mileage reported at a visit (issue 11: "a mileage below the last reported one is refused
with a localized error and nothing written"), through the production dispatcher.

``/visit <customer> [service] km:<reading>`` records the visit and the reading in one
transaction; a reading below the last one, a non-numeric, negative or huge one is refused
with a localized answer and neither the visit nor the reading is written. The monthly run
is learned from the readings once they are a month apart.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import MileageReport
from bot.services.people.mileage import odometer
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER, CUSTOMER = 6001, 5001


@pytest.fixture
async def code(app: App) -> str:
    customer = await join(app, app.user(CUSTOMER, "en"), name="Ivan")
    await hire(app, app.user(CASHIER, "en"))
    await hire(app, app.user(CASHIER + 1, "ru"))
    return customer.card_code


async def readings(app: App) -> list[tuple[int, int]]:
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(MileageReport.km, MileageReport.monthly_km).order_by(MileageReport.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_readings_recorded_and_the_run_learned(app: App, code: str) -> None:
    cashier = app.user(CASHIER, "en")
    await cashier.send(f"/visit {code} oil km:85000")
    assert app.fake.last(CASHIER).text.endswith(", oil, mileage 85,000 km.")
    app.clock.advance(timedelta(days=10))  # too close to learn a run from: the default
    await cashier.send(f"/visit {code} km:85400")
    app.clock.advance(timedelta(days=355))  # a year after the first: 15,000 km a year
    await cashier.send(f"/visit {code} wash km:100000")
    # 15,000 km in 365 days = 11.99 mean months: 1,251 km a month
    assert await readings(app) == [(85000, 1250), (85400, 1250), (100000, 1251)]
    async with app.biz.db.read() as session:
        customer_id = (await app.customer(telegram_id=CUSTOMER)).id  # type: ignore[union-attr]
        car = await odometer(session, customer_id)
    assert car.at(app.clock.now() + timedelta(days=30.436875)) == 101_251
    counts = await app.counts()
    assert counts["visits"] == 3 and counts["mileage_reports"] == 3


async def test_learned_run_from_readings_a_month_apart(app: App, code: str) -> None:
    cashier = app.user(CASHIER, "en")
    await cashier.send(f"/visit {code} km:10000")
    app.clock.advance(timedelta(days=30.436875 * 4))  # four months, 8,000 km
    await cashier.send(f"/visit {code} km:18000")
    assert await readings(app) == [(10000, 1250), (18000, 2000)]


REFUSED = [
    ("/visit {code} oil km:84999", "below the last one recorded (85,000 km on Jan 15, 2026)"),
    ("/visit {code} km:abc", "«km:abc» is not a mileage"),
    ("/visit {code} km:-5", "«km:-5» is not a mileage"),
    ("/visit {code} km:", "«km:» is not a mileage"),
    ("/visit {code} km:1e6", "«km:1e6» is not a mileage"),
    ("/visit {code} km:2000001", "from 0 to 2,000,000"),
    ("/visit {code} km:" + "9" * 400, "is not a mileage"),
    ("/visit {code} km:٣٤", "is not a mileage"),  # Arabic-Indic digits
    ("/visit {code} oil wash km:90000", "Write:"),
    ("/visit {code} diesel km:90000", "is not a service"),
]


@pytest.mark.parametrize(("command", "answer"), REFUSED)
async def test_bad_mileage_writes_nothing(app: App, code: str, command: str, answer: str) -> None:
    cashier = app.user(CASHIER, "en")
    await cashier.send(f"/visit {code} oil km:85000")
    before = await app.counts()
    await cashier.send(command.format(code=code))
    assert answer in app.fake.last(CASHIER).text
    assert await app.counts() == before


async def test_below_the_last_reading_is_refused_in_russian(app: App, code: str) -> None:
    await app.user(CASHIER, "en").send(f"/visit {code} km:85000")
    before = await app.counts()
    await app.user(CASHIER + 1, "ru").send(f"/visit {code} km:8500")
    assert app.fake.last(CASHIER + 1).text.startswith(
        "Пробег 8\xa0500 км меньше последнего записанного (85\xa0000 км"
    )
    assert "ничего не записано" in app.fake.last(CASHIER + 1).text
    assert await app.counts() == before

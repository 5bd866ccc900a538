"""Bad input for every argument of every command (SPEC.md, Bad input; Rules that need one
answer: amounts, receipts). Each case gets a clear localized answer and writes nothing."""

from __future__ import annotations

import pytest

from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER, CUSTOMER = 6001, 5001


@pytest.fixture
async def ready(app: App) -> dict[str, str]:
    customer = await join(app, app.user(CUSTOMER, "en"), name="Ivan")
    await hire(app, app.user(CASHIER, "en"))
    await app.user(CASHIER, "en").send(f"/purchase {customer.card_code} 1000 #R-1")
    return {"code": customer.card_code}


ACCEPTED_AMOUNTS = [
    ("1 500,50", "1,500.50"),
    ("1,500.50", "1,500.50"),
    ("1500.50", "1,500.50"),
    ("1500", "1,500.00"),
    ("0,01", "0.01"),
    ("1000000", "1,000,000.00"),
]


@pytest.mark.parametrize(("typed", "shown"), ACCEPTED_AMOUNTS)
async def test_accepted_amounts(app: App, ready: dict[str, str], typed: str, shown: str) -> None:
    await app.user(CASHIER, "en").send(f"/purchase {ready['code']} {typed}")
    assert shown in app.fake.last(CASHIER).text


# (command, words expected in the answer); {code} is a real customer's card code.
REFUSED = [
    ("/purchase {code} -5", "greater than zero"),
    ("/purchase {code} 0", "greater than zero"),
    ("/purchase {code} 0,00", "greater than zero"),
    ("/purchase {code} 1e309", "is not an amount"),
    ("/purchase {code} NaN", "is not an amount"),
    ("/purchase {code} inf", "is not an amount"),
    ("/purchase {code} 1,5000", "ambiguous"),
    ("/purchase {code} 1.500.50", "ambiguous"),
    ("/purchase {code} twelve", "is not an amount"),
    ("/purchase {code} 1000000,01", "over the maximum"),
    ("/purchase {code} 99999999999999999999", "over the maximum"),
    ("/purchase {code}", "Write:"),
    ("/purchase", "Write:"),
    ("/purchase {code} oil", "Write:"),
    ("/purchase {code} 100 #", "not a receipt number"),
    ("/purchase {code} 100 #<b>x</b>", "not a receipt number"),
    ("/purchase {code} 100 #R-1", "already recorded"),
    ("/purchase ZZZZZZ 100", "No customer"),
    ("/purchase 79990000000 100", "No customer"),
    ("/purchase <script> 100", "is not a card code"),
    ("/purchase " + "A" * 500 + " 100", "is not a card code"),
    ("/visit", "Write:"),
    ("/visit {code} massage", "is not a service"),
    ("/visit {code} oil extra", "Write:"),
    ("/visit NOBODY", "No customer"),
    ("/redeem {code}", "Write:"),
    ("/redeem {code} 0", "greater than zero"),
    ("/redeem {code} -10", "not a whole number"),
    ("/redeem {code} 1.5", "not a whole number"),
    ("/redeem {code} 99999999999", "not a whole number"),
    ("/redeem {code} 51", "Not enough points"),
    ("/redeem {code} 40 60", "At most 30 points"),
    ("/redeem {code} 10 abc", "is not an amount"),
    ("/refund", "Write:"),
    ("/refund abc", "not a purchase number"),
    ("/refund 0", "not a purchase number"),
    ("/refund 999", "There is no purchase"),
    ("/refund 1 2000", "can still be refunded"),
    ("/refund 1 -3", "greater than zero"),
    ("/note {code}", "Write:"),
    ("/note {code} " + "x" * 1001, "too long"),
    ("/note NOBODY hello", "No customer"),
    ("/find", "Write:"),
    ("/adjust {code} 100", "Write:"),
    ("/adjust {code} ten reason", "not a whole number"),
    ("/adjust {code} 0 reason", "greater than zero"),
    ("/adjust {code} +100001 reason", "more than"),
    ("/adjust {code} -51 reason", "Not enough points"),
    ("/adjust {code} +1 " + "r" * 201, "too long"),
]


@pytest.mark.parametrize(("command", "expected"), REFUSED)
async def test_refused_and_nothing_written(
    app: App, ready: dict[str, str], command: str, expected: str
) -> None:
    sender = app.owner if command.startswith("/adjust") else app.user(CASHIER, "en")
    before = await app.counts(include_audit=True)
    await sender.send(command.format(**ready))
    reply = app.fake.last(sender.user_id).text
    assert expected in reply, reply
    assert "<script>" not in reply and "<b>x" not in reply, "user input must be escaped"
    assert await app.counts(include_audit=True) == before


async def test_refusals_are_localized(app: App, ready: dict[str, str]) -> None:
    """The same refusal in Russian for a Russian-speaking cashier."""
    await hire(app, app.user(6005, "ru", "Ольга"))
    russian = app.user(6005, "ru", "Ольга")
    await russian.send(f"/purchase {ready['code']} 1,5000")
    assert "можно понять по-разному" in app.fake.last(6005).text
    await russian.send("/purchase NOBODY 100")
    assert "не найден" in app.fake.last(6005).text

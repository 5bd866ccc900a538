"""Hostile and boundary input found in review: look-alike digits, ids beyond the database's
integers, forged callback data, group chats, unusual names, and two cashiers racing on one
receipt. Every case gets an answer (or silence), never the crash apology."""

from __future__ import annotations

import asyncio

import pytest
from aiogram.types import Update

from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, CUSTOMER = 6001, 5001
APOLOGY = "Sorry, something went wrong"


@pytest.fixture
async def code(app: App) -> str:
    customer = await join(app, app.user(CUSTOMER, "en"), name="Ivan")
    await hire(app, app.user(CASHIER, "en"))
    return customer.card_code


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/purchase {code} 100 5", "ambiguous"),
        ("/purchase {code} 1'5", "ambiguous"),
        ("/purchase ² 100", "No customer"),
        ("/purchase ١٢٣ 100", "No customer"),
        ("/visit ³", "No customer"),
        ("/refund ²", "not a purchase number"),
        ("/refund 99999999999", "not a purchase number"),
        ("/refund 2147483648", "not a purchase number"),
        ("/find ²", "Nobody found"),
        ("/redeem {code} ² ", "not a whole number"),
        ("/purchase {code} 100 #" + "ß" * 20, "not a receipt number"),
    ],
)
async def test_lookalike_digits_and_huge_ids(
    app: App, code: str, command: str, expected: str
) -> None:
    before = await app.counts(include_audit=True)
    await app.user(CASHIER, "en").send(command.format(code=code))
    reply = app.fake.last(CASHIER).text
    assert expected in reply and APOLOGY not in reply, reply
    after = await app.counts(include_audit=True)
    if not command.startswith("/find"):  # a search is audited; nothing else may be written
        assert after == before


async def test_kpi_lookalike_digits(app: App) -> None:
    await app.owner.send("/kpi ²")
    assert "days from 1 to 3650" in app.fake.last(1000).text


@pytest.mark.parametrize(
    "data",
    [
        "ca:purchase:99999999999999999999",
        "ca:purchase:3000000000",
        "rd:y:3000000000",
        "rd:y:abc",
        "srm:-1",
        "rd:y:0",
    ],
)
async def test_forged_callback_ids_are_no_match(app: App, code: str, data: str) -> None:
    before = await app.counts(include_audit=True)
    await app.user(CASHIER, "en").click(data)
    await app.owner.click(data)
    assert not any(APOLOGY in t for t in app.fake.texts())
    assert await app.counts(include_audit=True) == before


async def test_group_chats_get_nothing(app: App, code: str) -> None:
    """A cashier's /find in a group would show a customer's name and balance to everyone."""
    private = app.user(CASHIER, "en").build_message(f"/find {code}")
    payload = private.model_dump(mode="json", exclude_none=True)
    payload["message"]["chat"] = {"id": -1001234, "type": "supergroup", "title": "Staff"}
    sent_before = len(app.fake.sent())
    await app.user(CASHIER, "en").feed(Update.model_validate(payload, context={"bot": app.bot}))
    assert len(app.fake.sent()) == sent_before


@pytest.mark.parametrize("full_name", ["👩‍💻 Olga", "O" * 129])
async def test_staff_with_emoji_or_long_names_can_join(app: App, full_name: str) -> None:
    await app.owner.send("/invite")
    token = app.fake.last(1000).text.split("?start=")[1].split()[0]
    await app.user(6002, "en", full_name).send(f"/start {token}")
    assert "Welcome to the team" in app.fake.last(6002).text


async def test_customer_name_that_grows_when_casefolded(app: App) -> None:
    customer = await join(app, app.user(5002, "en"), name="ß" * 40, phone="+79160000077")
    assert customer.name == "ß" * 40
    await hire(app, app.user(CASHIER, "en"))
    await app.user(CASHIER, "en").send("/find ssss")
    assert "ß" * 40 in app.fake.last(CASHIER).text


async def test_two_cashiers_same_receipt_at_once(app: App, code: str) -> None:
    """One purchase is recorded; the other cashier is told the receipt is already in."""
    await hire(app, app.user(6002, "en"))
    first, second = app.user(CASHIER, "en"), app.user(6002, "en")
    for n in range(3):
        await asyncio.gather(
            first.send(f"/purchase {code} 100 #R-{n}"), second.send(f"/purchase {code} 100 #R-{n}")
        )
        replies = [app.fake.last(CASHIER).text, app.fake.last(6002).text]
        assert sum("recorded:" in r for r in replies) == 1, replies
        assert sum(f"Receipt R-{n} is already recorded" in r for r in replies) == 1, replies
    assert await app.balance_consistent()

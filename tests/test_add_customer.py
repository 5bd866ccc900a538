"""A customer entered by phone at the counter collects points before having the bot, and
is linked (same card, same points, no duplicate) when joining with that phone."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditEntry, Customer
from tests.conftest import make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER = 6001


async def test_counter_customer_linked_on_joining(app: App) -> None:
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send("/addcustomer +7-916-555-12-34 Ivan <b>")
    reply = app.fake.last(CASHIER).text
    assert "Customer added" in reply and "Ivan &lt;b&gt;" in reply and "+79165551234" in reply
    await cashier.send("/purchase 79165551234 2000")
    assert "+100 points" in app.fake.last(CASHIER).text
    entered = await app.customer(phone="+79165551234")
    assert entered is not None and entered.telegram_id is None
    assert entered.consent_version is not None and entered.consent_version.startswith("counter:")

    joined = await join(app, app.user(5001, "en"), name="Ivan", phone="+79165551234")
    assert joined.id == entered.id and joined.card_code == entered.card_code
    assert joined.balance == 100
    async with app.biz.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "customer_add"))
    assert audit is not None and audit.actor_tg_id == CASHIER


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", "Write:"),
        ("12345", "not valid"),
        ("+7abc", "not valid"),
        ("<script>", "not valid"),
        ("+79165551234 " + "x" * 65, "up to 64 characters"),
    ],
)
async def test_bad_input_writes_nothing(app: App, args: str, expected: str) -> None:
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    before = await app.counts(include_audit=True)
    await cashier.send(f"/addcustomer {args}".strip())
    assert expected in app.fake.last(CASHIER).text
    assert await app.counts(include_audit=True) == before


async def test_phone_already_has_a_card(app: App) -> None:
    customer = await join(app, app.user(5001, "en"), name="Anna", phone="+79160000001")
    await hire(app, app.user(CASHIER, "en"))
    before = await app.counts(include_audit=True)
    await app.user(CASHIER, "en").send("/addcustomer +79160000001")
    assert f"already has a card: {customer.card_code}" in app.fake.last(CASHIER).text
    assert await app.counts(include_audit=True) == before


async def test_phone_region_reads_national_numbers_of_the_business(app: App, db_url: str) -> None:
    """business.phone_region: a German business reads 0151 … as +49 151 …"""
    german = app.variant(make_settings(db_url, business={"phone_region": "DE"}))
    cashier = german.user(CASHIER, "en")
    await hire(german, cashier)
    await cashier.send("/addcustomer 015112345678 Hans")
    assert "+4915112345678" in german.fake.last(CASHIER).text
    await cashier.send("/find 015112345678")
    assert "Hans" in german.fake.last(CASHIER).text

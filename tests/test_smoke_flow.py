"""End-to-end through aiogram: a customer joins, staff log a purchase, the customer is told."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def test_join_purchase_and_balance(app: App) -> None:
    ivan = app.user(5001, "en", "Ivan")
    customer = await join(app, ivan, name="Ivan <b>")
    assert customer.name == "Ivan <b>"
    assert "Ivan &lt;b&gt;" in app.fake.last(ivan.user_id).text
    cashier = app.user(6001, "en", "Olga")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 1 500,50 oil #A-1")
    reply = app.fake.last(cashier.user_id).text
    assert "+75 points" in reply, reply
    await app.deliver()
    assert any("+75 points" in t for t in app.fake.texts(ivan.user_id))
    await ivan.send("/balance")
    assert "<b>75</b>" in app.fake.last(ivan.user_id).text
    assert await app.balance_consistent()

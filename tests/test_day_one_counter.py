"""Issue 20, item 1: the cashier's own example works, and a service word that is not a
configured tag is refused with the tags as buttons (never as an amount error).

Why refuse rather than keep the word as free text: the tag is what reminders, offers on a
service and the owner's figures read; «шиномонтаж» kept beside «шины» would silently miss
the tyre reminder and split the statistics, and a typo would stay in the books. One tap on
the right tag records the same purchase, so refusing costs the cashier nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.config import Settings, settings_from_dict
from bot.db.models import Purchase
from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import BACKENDS, base_config
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, CUSTOMER = 6001, 5001
AMOUNT_ERROR = "можно понять по-разному"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """A Russian car service as `make run` configures it: the tags come from business.kind."""
    config = base_config(db_url, business={"kind": "car_service", "default_language": "ru"})
    del config["loyalty"]["service_tags"]
    return settings_from_dict(config, use_env=False)


async def _counter(app: App) -> tuple[ChatUser, str]:
    customer = await join(app, app.user(CUSTOMER, "ru"), name="Иван")
    cashier = app.user(CASHIER, "ru", "Ольга")
    await hire(app, cashier)
    return cashier, customer.card_code


async def _purchases(app: App) -> list[tuple[Decimal, str | None]]:
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(Purchase.amount, Purchase.service_tag).order_by(Purchase.id)
        )
        return [(amount, tag) for amount, tag in rows.all()]


async def test_the_example_in_the_help_works(app: App) -> None:
    """`/purchase` alone shows an example with a configured Russian tag; sent as it is
    (with a real card code), it is recorded."""
    cashier, code = await _counter(app)
    await cashier.send("/purchase")
    help_text = app.fake.last(CASHIER).text
    example = re.search(r"<code>(/purchase K7M2QX [^<]+)</code>", help_text)
    assert example is not None, help_text
    assert " oil " not in example.group(1)
    assert "масло, шины, диагностика, мойка" in help_text
    await cashier.send(example.group(1).replace("K7M2QX", code))
    assert "проведена" in app.fake.last(CASHIER).text
    assert await _purchases(app) == [(Decimal("1500.50"), "масло")]


async def test_a_word_that_is_not_a_tag_asks_for_the_tag(app: App) -> None:
    """`/purchase Q32QQ8 3500 oil`: no amount error; the tags as buttons; a tap records it."""
    cashier, code = await _counter(app)
    await cashier.send(f"/purchase {code} 3500 oil")
    refusal = app.fake.last(CASHIER)
    assert AMOUNT_ERROR not in refusal.text
    assert "«oil» — нет такой услуги" in refusal.text
    assert [label for label, _ in buttons(refusal)] == [
        "масло", "шины", "диагностика", "мойка", "Без услуги"
    ]  # fmt: skip
    assert await _purchases(app) == []
    await cashier.click(find_button(refusal, "шины"), refusal)
    assert "проведена" in app.fake.last(CASHIER).text
    assert await _purchases(app) == [(Decimal("3500.00"), "шины")]
    await cashier.click(find_button(refusal, "шины"), refusal)  # pressed again: stale
    assert await _purchases(app) == [(Decimal("3500.00"), "шины")]


async def test_the_tag_can_be_typed_and_the_receipt_is_kept(app: App) -> None:
    """`/purchase P5TYW4 1 150,50 шиномонтаж #A-7`, then the cashier types «шины»."""
    cashier, code = await _counter(app)
    await cashier.send(f"/purchase {code} 1 150,50 шиномонтаж #A-7")
    assert "«шиномонтаж» — нет такой услуги" in app.fake.last(CASHIER).text
    assert AMOUNT_ERROR not in app.fake.last(CASHIER).text
    await cashier.send("шины")
    assert "чек A-7" in app.fake.last(CASHIER).text
    assert await _purchases(app) == [(Decimal("1150.50"), "шины")]


async def test_without_a_service_button(app: App) -> None:
    cashier, code = await _counter(app)
    await cashier.send(f"/purchase {code} 900 шиномонтаж")
    refusal = app.fake.last(CASHIER)
    await cashier.click(find_button(refusal, "Без услуги"), refusal)
    assert await _purchases(app) == [(Decimal("900.00"), None)]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("1,5000 oil", "«1,5000» можно понять по-разному"),  # only the amount is quoted
        ("3500 <b>oil</b>", "«&lt;b&gt;oil&lt;/b&gt;» — нет такой услуги"),
        ("3500 oil extra", "«3500 oil» — не сумма"),
        ("abc oil", "«abc» — не сумма"),
    ],
)
async def test_the_amount_error_only_for_a_malformed_amount(
    app: App, typed: str, said: str
) -> None:
    cashier, code = await _counter(app)
    await cashier.send(f"/purchase {code} {typed}")
    assert said in app.fake.last(CASHIER).text
    assert await _purchases(app) == []

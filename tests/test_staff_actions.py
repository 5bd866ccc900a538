"""Staff actions end to end: redemption with the customer's confirmation, refunds, visits,
notes, the card deep link and its buttons (SPEC.md, Rules that need one answer)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.db.models import LedgerEntry, Note, Purchase, Visit
from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, CUSTOMER = 6001, 5001


async def _setup(app: App, points: int = 500) -> tuple[ChatUser, ChatUser, str]:
    ivan = app.user(CUSTOMER, "en", "Ivan")
    customer = await join(app, ivan, name="Ivan")
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    if points:
        await app.owner.send(f"/adjust {customer.card_code} +{points} opening")
    await app.deliver()
    return ivan, cashier, customer.card_code


async def _entries(app: App) -> list[tuple[str, int]]:
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(LedgerEntry.kind, LedgerEntry.points).order_by(LedgerEntry.id)
        )
        return [(k, p) for k, p in rows.all()]


async def test_redeem_writes_nothing_until_confirmed(app: App) -> None:
    ivan, cashier, code = await _setup(app)
    await cashier.send(f"/redeem {code} 200")
    assert "for confirmation: 200 points" in app.fake.last(CASHIER).text
    assert await _entries(app) == [("adjustment", 500)]
    await app.deliver()
    prompt = app.fake.last(CUSTOMER)
    assert "Pay with <b>200</b> points" in prompt.text
    await ivan.click(find_button(prompt, "Confirm"), prompt)
    assert await _entries(app) == [("adjustment", 500), ("redeem", -200)]
    await app.deliver()
    assert "200 points paid, balance 300" in app.fake.last(CASHIER).text
    assert "Balance: <b>300</b>" in app.fake.texts(CUSTOMER)[-1]
    await ivan.click(find_button(prompt, "Confirm"), prompt)  # pressed again: closed
    assert "already closed" in app.fake.calls("answerCallbackQuery")[-1].params["text"]
    assert await _entries(app) == [("adjustment", 500), ("redeem", -200)]


async def test_redeem_declined_and_expired(app: App) -> None:
    ivan, cashier, code = await _setup(app)
    await cashier.send(f"/redeem {code} 100")
    await app.deliver()
    await ivan.click(find_button(app.fake.last(CUSTOMER), "Decline"), app.fake.last(CUSTOMER))
    await cashier.send(f"/redeem {code} 100")
    await app.deliver()
    late = app.fake.last(CUSTOMER)
    app.clock.advance(timedelta(minutes=app.biz.settings.loyalty.redemption_confirm_minutes))
    await ivan.click(find_button(late, "Confirm"), late)
    assert "expired" in app.fake.last(CUSTOMER).text
    await app.deliver()
    staff_texts = app.fake.texts(CASHIER)
    assert any("declined paying 100" in t for t in staff_texts)
    assert any("request for 100 points expired" in t for t in staff_texts)
    assert await _entries(app) == [("adjustment", 500)]


async def test_redeem_against_purchase_amount_records_the_purchase(app: App) -> None:
    """200 points on a 1000 purchase: 800 paid in money earns 5% = 40 points."""
    ivan, cashier, code = await _setup(app)
    await cashier.send(f"/redeem {code} 200 1000")
    await app.deliver()
    await ivan.click(find_button(app.fake.last(CUSTOMER), "Confirm"), app.fake.last(CUSTOMER))
    # One transaction: the purchase is booked (earn) and the points it was paid with go.
    assert await _entries(app) == [("adjustment", 500), ("earn", 40), ("redeem", -200)]
    async with app.biz.db.read() as session:
        purchase = await session.scalar(select(Purchase))
    assert purchase is not None and (purchase.points_redeemed, purchase.points_earned) == (200, 40)
    await cashier.send(f"/refund {purchase.id}")
    assert "reversed 40, returned 200" in app.fake.last(CASHIER).text
    assert await app.balance_consistent()
    customer = await app.customer(card_code=code)
    assert customer is not None and customer.balance == 500


async def test_partial_refunds_reverse_pro_rata(app: App) -> None:
    _ivan, cashier, code = await _setup(app, points=0)
    await cashier.send(f"/purchase {code} 1000")  # +50
    await cashier.send("/refund 1 300")  # 50 * 300/1000 = 15
    assert "Points reversed 15" in app.fake.last(CASHIER).text
    await cashier.send("/refund 1 300")  # floor(50*600/1000) - 15 = 15
    await cashier.send("/refund 1")  # the remaining 400: 50 - 30 = 20
    assert "400.00" in app.fake.last(CASHIER).text and "reversed 20" in app.fake.last(CASHIER).text
    await cashier.send("/refund 1")
    assert "already fully refunded" in app.fake.last(CASHIER).text
    assert await _entries(app) == [
        ("earn", 50),
        ("reversal", -15),
        ("reversal", -15),
        ("reversal", -20),
    ]


async def test_refund_shortfall_is_recorded_not_overdrawn(app: App) -> None:
    ivan, cashier, code = await _setup(app, points=0)
    await cashier.send(f"/purchase {code} 2000")  # +100
    await cashier.send(f"/redeem {code} 80")
    await app.deliver()
    await ivan.click(find_button(app.fake.last(CUSTOMER), "Confirm"), app.fake.last(CUSTOMER))
    await cashier.send("/refund 1")
    reply = app.fake.last(CASHIER).text
    assert "Points reversed 20" in reply and "not recovered 80" in reply, reply
    customer = await app.customer(card_code=code)
    assert customer is not None and customer.balance == 0
    assert await app.balance_consistent()


async def test_card_deep_link_and_buttons(app: App) -> None:
    ivan, cashier, code = await _setup(app, points=0)
    await cashier.send(f"/start c_{code}")
    card = app.fake.last(CASHIER)
    assert code in card.text and "Ivan" in card.text
    assert [t for t, _ in buttons(card)] == [
        "🧾 Purchase",
        "🔧 Visit",
        "💳 Pay with points",
        "↩️ Refund",
        "📝 Note",
    ]
    await cashier.click(find_button(card, "Purchase"), card)
    await cashier.send("abc")
    assert "is not an amount" in app.fake.last(CASHIER).text
    await cashier.send("1 200 oil")
    assert "Purchase №1 recorded" in app.fake.last(CASHIER).text
    await cashier.click(find_button(card, "Visit"), card)
    await cashier.send("-")
    await cashier.click(find_button(card, "Note"), card)
    await cashier.send("prefers <b>synthetic</b> oil")
    assert "Note added" in app.fake.last(CASHIER).text
    async with app.biz.db.read() as session:
        assert len(list(await session.scalars(select(Visit)))) == 1
        note = await session.scalar(select(Note))
    assert note is not None and note.text == "prefers <b>synthetic</b> oil"

    # Refund from the card: pick the purchase, then the amount ("-": all of it).
    await cashier.click(find_button(card, "Refund"), card)
    pick = app.fake.last(CASHIER)
    assert [t.split(" · ")[:2] for t, _ in buttons(pick)] == [["№1", "₽1,200.00"]]
    await cashier.click(buttons(pick)[0][1], pick)
    await cashier.send("200")
    assert "Refund on purchase №1" in app.fake.last(CASHIER).text
    await cashier.click(find_button(card, "Refund"), card)
    pick = app.fake.last(CASHIER)
    assert [t.split(" · ")[1] for t, _ in buttons(pick)] == ["₽1,000.00"]  # net now
    await cashier.click(buttons(pick)[0][1], pick)
    await cashier.send("-")
    await cashier.click(find_button(card, "Purchase"), card)  # then changes their mind:
    await cashier.click(find_button(card, "Refund"), card)
    assert "no purchase to refund" in app.fake.last(CASHIER).text
    await cashier.send("500")  # the purchase step no longer waits: nothing recorded
    async with app.biz.db.read() as session:
        assert len(list(await session.scalars(select(Purchase)))) == 1
    async with app.biz.db.read() as session:
        refunded = await session.scalar(select(Purchase.refunded_amount))
    assert refunded == Decimal("1200.00")
    await ivan.send(f"/start c_{code}")  # a customer scanning a card gets the normal /start
    assert "Hello again" in app.fake.last(CUSTOMER).text


async def test_find_by_name_phone_and_code(app: App) -> None:
    _ivan, cashier, code = await _setup(app, points=0)
    await join(app, app.user(5002, "en"), name="Ивана Мария", phone="+79160000002")
    await cashier.send("/find ИВАН")
    assert "Ивана Мария" in app.fake.last(CASHIER).text
    await cashier.send("/find 79160000002")
    assert "Ивана Мария" in app.fake.last(CASHIER).text
    await cashier.send(f"/find {code.lower()}")
    assert "Ivan" in app.fake.last(CASHIER).text
    await cashier.send("/find %")
    assert "Nobody found" in app.fake.last(CASHIER).text


async def test_points_paid_purchase_earns_at_the_tier_held(app: App) -> None:
    """A purchase earns at the tier held before it, also when part of it is paid with
    points: 30 000 spent makes the customer Silver (7% in the retail preset); then 200
    points towards a 1 000 purchase leave 800 paid in money, which earns 7% = 56."""
    ivan, cashier, code = await _setup(app, points=0)
    await cashier.send(f"/purchase {code} 30000")  # at Base: 5% = 1500, then promoted
    customer = await app.customer(card_code=code)
    assert customer is not None and customer.tier == "silver"
    await cashier.send(f"/redeem {code} 200 1000")
    await app.deliver()
    await ivan.click(find_button(app.fake.last(CUSTOMER), "Confirm"), app.fake.last(CUSTOMER))
    assert (await _entries(app))[-2:] == [("earn", 56), ("redeem", -200)]
    assert await app.balance_consistent()

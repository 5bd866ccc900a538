"""Rules that had two homes and gave two answers (issue: one place per rule).

- A live purchase (SPEC.md: "A live purchase is one not fully refunded, counted at its net
  amount; tiers, visits, KPIs, scoring, referrals and the client card all count live
  purchases"): refunded purchases no longer promote anyone.
- "Staff and owners never act on their own customer account": refused, audited, nothing
  written, for every writing command.
- A token that names two people (someone's phone digits and another's Telegram id) is never
  guessed: the cashier chooses from buttons.
- The redemption buttons the services queue and the callback data the handlers parse share
  one prefix.
"""

from __future__ import annotations

import re
from decimal import Decimal

import grimp
import pytest
from sqlalchemy import select

from bot.db.models import AuditEntry, Purchase
from bot.services.counter.redemptions import confirm_keyboard
from bot.services.members.client_card import client_card
from bot.services.money import tiers
from bot.testing.telegram_double import ChatUser, buttons
from handlers.keyboards import RedeemAnswer
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER, CUSTOMER = 6001, 5001


async def _last_purchase_id(app: App) -> int:
    async with app.biz.db.read() as session:
        found = await session.scalar(select(Purchase.id).order_by(Purchase.id.desc()).limit(1))
    assert found is not None
    return found


async def _buy_and_refund(app: App, cashier: ChatUser, code: str, amount: int, times: int) -> None:
    for _ in range(times):
        await cashier.send(f"/purchase {code} {amount}")
        await cashier.send(f"/refund {await _last_purchase_id(app)}")
        assert "refund" in app.fake.last(CASHIER).text.lower()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_refunded_purchases_promote_nobody(app: App) -> None:
    """Retail preset: Silver takes 12 purchases and visits, Gold 24, in 12 months. Twelve
    purchases of 10, each refunded in full, are no purchases at all: still the first tier,
    and the daily recheck agrees after 24 refunded purchases of 1000."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await _buy_and_refund(app, cashier, customer.card_code, 10, 12)
    assert (await app.customer(telegram_id=CUSTOMER)).tier in (None, "base")  # type: ignore[union-attr]
    await _buy_and_refund(app, cashier, customer.card_code, 1000, 12)
    await tiers.run_daily(app.biz)
    assert (await app.customer(telegram_id=CUSTOMER)).tier in (None, "base")  # type: ignore[union-attr]
    # One live purchase among them counts once, at its net amount.
    await cashier.send(f"/purchase {customer.card_code} 500")
    await cashier.send(f"/refund {await _last_purchase_id(app)} 200")
    card = await client_card(app.biz, customer.card_code, "en")
    assert card.purchases == 1
    assert card.total_spend == Decimal("300.00")
    assert [r[2] for r in card.recent] == [Decimal("300.00")]
    assert await app.balance_consistent()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_staff_never_act_on_their_own_account(app: App) -> None:
    """Every writing command on one's own card is refused, audited as denied, and writes
    nothing else; the same command on a colleague's card works."""
    cashier = app.user(CASHIER, "en", "Olga")
    own = await join(app, cashier, name="Olga")
    await hire(app, cashier)
    owner_card = await join(app, app.owner, name="Boss")
    other = await join(app, app.user(CUSTOMER, "en"), name="Ivan")
    await app.owner.send(f"/adjust {own.card_code} +100 opening")
    await cashier.send(f"/purchase {other.card_code} 100")  # a colleague's purchase of hers:
    await app.owner.send(f"/purchase {own.card_code} 1000")
    theirs = await _last_purchase_id(app)
    await app.deliver()
    before = await app.counts()
    attempts = [
        (cashier, f"/purchase {own.card_code} 100"),
        (cashier, f"/visit {own.card_code}"),
        (cashier, f"/redeem {own.card_code} 10"),
        (cashier, f"/note {own.card_code} me"),
        (cashier, f"/refund {theirs}"),
        (app.owner, f"/adjust {owner_card.card_code} +50 bonus"),
        (app.owner, f"/purchase {owner_card.card_code} 100"),
    ]
    for who, command in attempts:
        await who.send(command)
        assert "own customer account" in app.fake.last(who.user_id).text, command
    assert await app.counts() == before
    async with app.biz.db.read() as session:
        denied = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied"))
        )
    assert [(d.actor_tg_id, d.action, (d.details or {}).get("code")) for d in denied] == [
        (who.user_id, command.split()[0], "own_account") for who, command in attempts
    ]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_token_naming_two_customers_is_never_guessed(app: App) -> None:
    """Ivan's phone digits are Petr's Telegram id: /purchase with those digits credits
    nobody and offers both as buttons; a tap opens the chosen customer's card."""
    digits = "79161234567"
    ivan = await join(app, app.user(CUSTOMER, "en"), name="Ivan", phone=f"+{digits}")
    petr = await join(app, app.user(int(digits), "en"), name="Petr")
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    before = await app.counts()
    await cashier.send(f"/purchase {digits} 100")
    reply = app.fake.last(CASHIER)
    assert "matches several customers" in reply.text
    choices = buttons(reply)
    assert [label for label, _ in choices] == [
        f"{ivan.card_code} · Ivan",
        f"{petr.card_code} · Petr",
    ]
    assert await app.counts() == before
    await cashier.click(choices[1][1], reply)
    card = app.fake.last(CASHIER)
    assert petr.card_code in card.text and "Petr" in card.text
    assert any("Purchase" in label for label, _ in buttons(card))
    # The card code is one person: that works as before.
    await cashier.send(f"/purchase {ivan.card_code} 100")
    assert f"recorded: {ivan.card_code} (Ivan)" in app.fake.last(CASHIER).text


def test_redemption_buttons_and_their_parser_share_one_prefix() -> None:
    queued = confirm_keyboard("Yes", "No", 42)["inline_keyboard"]
    data = [button["callback_data"] for button in queued[0]]  # type: ignore[index]
    assert data == [
        RedeemAnswer(answer="y", redemption_id=42).pack(),
        RedeemAnswer(answer="n", redemption_id=42).pack(),
    ]
    assert RedeemAnswer.unpack(data[0]) == RedeemAnswer(answer="y", redemption_id=42)


def test_services_import_each_other_without_cycles() -> None:
    """The layering contracts run as `lint-imports` in `make test`; this adds what they
    cannot say: no two service modules import each other, even through a third."""
    graph = grimp.build_graph("bot")
    services = sorted(
        m for m in graph.find_descendants("bot.services") if not graph.find_children(m)
    )
    cycles = [
        (a, b)
        for a in services
        for b in graph.find_modules_directly_imported_by(a)
        if b in services and graph.chain_exists(importer=b, imported=a)
    ]
    assert cycles == []
    assert len(services) > 50 and re.match(r"bot\.services\.\w+", services[0])

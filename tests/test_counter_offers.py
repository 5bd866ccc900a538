"""Offers used at the counter, end to end through the dispatcher (issue 11, "Offers are
things"): ``/purchase <customer> <amount> [service] offer:<code>`` and the card's button
apply an offer once, inside the purchase's own transaction; refusals write nothing; a
re-delivered update and two cashiers at once use it once; ``/offers`` lists a customer's
live offers; a refund of a purchase that used an offer makes no points from nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.db.models import LedgerEntry, Offer, OfferKind, Purchase
from bot.services.money import expiry, offers
from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CUSTOMER, OTHER, CASHIER, CASHIER2 = 5001, 5002, 6001, 6002
D = Decimal


async def _setup(app: App) -> tuple[ChatUser, ChatUser, int, str]:
    ivan = app.user(CUSTOMER, "en", "Ivan")
    customer = await join(app, ivan, name="Ivan")
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    await app.deliver()
    return ivan, cashier, customer.id, customer.card_code


async def _grant(
    app: App,
    customer_id: int,
    kind: OfferKind,
    value: str,
    *,
    service: str | None = None,
    starts: datetime | None = None,
    days: int = 7,
) -> str:
    now = app.clock.now()
    async with app.biz.db.write() as session:
        offer = await offers.grant(
            session, customer_id=customer_id, kind=kind, value=D(value),
            valid_from=starts or now, valid_until=(starts or now) + timedelta(days=days),
            source="job:test", dedupe_key=None, now=now, service_tag=service,
        )  # fmt: skip
        assert offer is not None
        return offer.code


async def _offer(app: App, code: str) -> Offer:
    async with app.biz.db.read() as session:
        offer = await session.scalar(select(Offer).where(Offer.code == code))
        assert offer is not None
        return offer


async def _entries(app: App) -> list[tuple[str, int, str]]:
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(LedgerEntry.kind, LedgerEntry.points, LedgerEntry.idempotency_key).order_by(
                LedgerEntry.id
            )
        )
        return [(k, p, key) for k, p, key in rows.all()]


async def _purchases(app: App) -> list[tuple[Decimal, int]]:
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(Purchase.amount, Purchase.points_earned).order_by(Purchase.id)
        )
        return [(a, p) for a, p in rows.all()]


async def test_percent_off_a_service_books_what_was_paid(app: App) -> None:
    """Seed 004 (004_235a4ca77e3bcda9.txt): «скидка 15% на замену масла до конца месяца!».
    2 000 for an oil change with 15% off: 300 off, 1 700 booked, 5% of 1 700 = 85 points."""
    _ivan, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.PERCENT, "15", service="oil")
    await cashier.send(f"/purchase {card} 2000 oil offer:{code.lower()}")
    reply = app.fake.last(CASHIER).text
    assert f"Offer {code}: ₽300.00 off (full price ₽2,000.00)" in reply, reply
    assert "₽1,700.00" in reply and "+85 points" in reply
    assert await _purchases(app) == [(D("1700.00"), 85)]
    offer = await _offer(app, code)
    assert offer.used_at == app.clock.now() and offer.used_by_tg_id == CASHIER
    assert offer.used_purchase_id == 1 and offer.discount == D("300.00")
    await app.deliver()
    notice = app.fake.last(CUSTOMER).text
    assert f"₽1,700.00! Offer {code}: ₽300.00 off. +85 points" in notice, notice
    assert "Balance: <b>85</b>" in notice
    assert await app.balance_consistent()


async def test_fixed_discount(app: App) -> None:
    """500 off 2 000: 1 500 booked, 75 points."""
    _, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.FIXED, "500")
    await cashier.send(f"/purchase {card} 2 000 offer:{code}")
    assert "₽500.00 off" in app.fake.last(CASHIER).text
    assert await _purchases(app) == [(D("1500.00"), 75)]


async def test_points_offer_credits_a_bonus_once_through_the_ledger(app: App) -> None:
    """250 bonus points on a 1 000 purchase: the purchase earns 50 and the offer adds 250
    (key offer:<id>), both counted as what the purchase earned."""
    _, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.POINTS, "250")
    offer_id = (await _offer(app, code)).id
    await cashier.send(f"/purchase {card} 1000 offer:{code}")
    reply = app.fake.last(CASHIER).text
    assert f"Offer {code}: +250 points bonus" in reply and "balance 300" in reply, reply
    entries = await _entries(app)
    assert [(k, p) for k, p, _ in entries] == [("earn", 50), ("bonus", 250)]
    assert entries[0][2].endswith(":earn") and entries[1][2] == offers.bonus_key(offer_id)
    assert await _purchases(app) == [(D("1000.00"), 300)]
    await app.deliver()
    assert "+250 points bonus. +50 points for the purchase" in app.fake.last(CUSTOMER).text
    assert await app.balance_consistent()


async def test_redelivered_update_uses_the_offer_once(app: App) -> None:
    _, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.POINTS, "100")
    update = cashier.build_message(f"/purchase {card} 1000 offer:{code}")
    await cashier.feed(update)
    await cashier.feed(update)
    assert "Already recorded" in app.fake.last(CASHIER).text
    assert f"Offer {code}: +100 points bonus" in app.fake.last(CASHIER).text
    assert [k for k, _, _ in await _entries(app)] == ["earn", "bonus"]
    assert len(await _purchases(app)) == 1
    await app.deliver()
    assert sum(code in t for t in app.fake.texts(CUSTOMER)) == 1


async def test_two_cashiers_at_once_use_it_once(app: App) -> None:
    _, cashier, cid, card = await _setup(app)
    other = app.user(CASHIER2, "en", "Anna")
    await hire(app, other)
    code = await _grant(app, cid, OfferKind.FIXED, "300")
    await asyncio.gather(
        cashier.send(f"/purchase {card} 1000 offer:{code}"),
        other.send(f"/purchase {card} 1000 offer:{code}"),
    )
    replies = [app.fake.last(CASHIER).text, app.fake.last(CASHIER2).text]
    assert sum("recorded" in r for r in replies) == 1, replies
    assert sum(f"Offer {code} has already been used" in r for r in replies) == 1, replies
    assert await _purchases(app) == [(D("700.00"), 35)]


async def test_refusals_answer_and_write_nothing(app: App) -> None:
    _ivan, cashier, cid, card = await _setup(app)
    stranger = await join(app, app.user(OTHER, "en", "Petr"), name="Petr")
    now = app.clock.now()
    theirs = await _grant(app, stranger.id, OfferKind.FIXED, "100")
    oil = await _grant(app, cid, OfferKind.PERCENT, "10", service="oil")
    later = await _grant(app, cid, OfferKind.FIXED, "100", starts=now + timedelta(days=2))
    expired = await _grant(app, cid, OfferKind.FIXED, "100", starts=now - timedelta(days=8))
    big = await _grant(app, cid, OfferKind.FIXED, "500")
    used = await _grant(app, cid, OfferKind.FIXED, "50")
    await cashier.send(f"/purchase {card} 1000 offer:{used}")
    await app.deliver()
    before = await app.counts()
    cases = {
        f"/purchase {card} 1000 offer:": "is not an offer code",
        f"/purchase {card} 1000 offer:ABC": "is not an offer code",
        f"/purchase {card} 1000 offer:<b>x</b>": "is not an offer code",
        f"/purchase {card} 1000 offer:{oil} offer:{big}": "One offer per purchase",
        f"/purchase {card} 1000 offer:ZZZZZZZ": "No offer with the code «ZZZZZZZ»",
        f"/purchase {card} 1000 offer:{theirs}": "belongs to another customer",
        f"/purchase {card} 1000 wash offer:{oil}": "is for the service «oil» only",
        f"/purchase {card} 1000 offer:{oil}": "is for the service «oil» only",
        f"/purchase {card} 1000 offer:{later}": "is valid from",
        f"/purchase {card} 1000 offer:{expired}": "ended on",
        f"/purchase {card} 300 offer:{big}": "is worth the whole purchase of ₽300.00",
        f"/purchase {card} 1000 offer:{used}": "has already been used",
        f"/purchase {card} 0 offer:{big}": "",  # a bad amount: refused before the offer
    }
    for command, answer in cases.items():
        await cashier.send(command)
        reply = app.fake.last(CASHIER).text
        assert answer in reply and "recorded" not in reply, (command, reply)
    assert "&lt;b&gt;" in app.fake.texts(CASHIER)[-11]  # the hostile token came back escaped
    assert await app.counts() == before  # outbox included: nobody was told anything
    for code in (theirs, oil, later, expired, big):
        assert (await _offer(app, code)).used_at is None


async def test_card_button_asks_for_the_amount_and_books_with_the_offer(app: App) -> None:
    _, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.PERCENT, "10")
    await cashier.send(f"/find {card}")
    shown = app.fake.last(CASHIER)
    assert f"<code>{code}</code> 10% off, until" in shown.text, shown.text
    await cashier.click(find_button(shown, code), shown)
    assert f"with offer {code}" in app.fake.last(CASHIER).text
    await cashier.send("1 000")
    reply = app.fake.last(CASHIER).text
    assert f"Offer {code}: ₽100.00 off" in reply, reply
    assert await _purchases(app) == [(D("900.00"), 45)]
    await cashier.send(f"/find {card}")  # used: no longer on the card
    assert code not in app.fake.last(CASHIER).text
    assert all(code not in label for label, _ in buttons(app.fake.last(CASHIER)))


async def test_card_button_for_an_offer_used_meanwhile_is_refused(app: App) -> None:
    _, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.FIXED, "100")
    await cashier.send(f"/find {card}")
    shown = app.fake.last(CASHIER)
    await cashier.click(find_button(shown, code), shown)
    await cashier.send(f"/purchase {card} 500 offer:{code}")  # used another way first
    before = await app.counts()
    await cashier.send("700")
    assert "has already been used" in app.fake.last(CASHIER).text
    assert await app.counts() == before


async def test_owner_client_card_lists_offers_with_buttons(app: App) -> None:
    _, _, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.POINTS, "200")
    await app.owner.send(f"/client {card}")
    shown = app.fake.last(app.owner.user_id)
    assert f"<b>Offers</b>: <code>{code}</code> +200 points until" in shown.text, shown.text
    pick = find_button(shown, code)
    assert pick.startswith("op:")
    ivan = app.user(CUSTOMER, "en", "Ivan")
    before = await app.counts()
    await ivan.click(pick)  # a customer forging the staff button: refused, nothing asked
    assert "not available" in app.fake.calls("answerCallbackQuery")[-1].params["text"]
    await ivan.send("1000")  # not an amount for him: his own words, passed on (issue 20)
    assert "passed your message on" in app.fake.last(CUSTOMER).text
    passed_on = ("conversations", "conversation_messages", "outbox", "processed_updates")
    after = await app.counts()
    assert {k: v for k, v in after.items() if k not in passed_on} == {
        k: v for k, v in before.items() if k not in passed_on
    }
    before = after
    for forged in (f"op:{cid}:{code}X", f"op:{cid}:{code[:-1]}0", f"op:{cid}:<b>"):
        await app.owner.click(forged)  # not an offer code (offers.looks_like_offer_code)
        await app.owner.send("1000")
        assert await app.counts() == before, forged
    await app.owner.click(pick, shown)
    await app.owner.send("1000")
    assert f"Offer {code}: +200 points bonus" in app.fake.last(app.owner.user_id).text


async def test_customer_offers_lists_live_ones(app: App) -> None:
    ivan, cashier, cid, card = await _setup(app)
    await ivan.send("/offers")
    assert "Your offers" not in app.fake.last(CUSTOMER).text
    keep = await _grant(app, cid, OfferKind.PERCENT, "15", service="oil", days=3)
    used = await _grant(app, cid, OfferKind.FIXED, "100")
    await _grant(app, cid, OfferKind.FIXED, "100", starts=app.clock.now() - timedelta(days=9))
    await cashier.send(f"/purchase {card} 500 offer:{used}")
    await ivan.send("/offers")
    shown = app.fake.last(CUSTOMER).text
    assert f"• <code>{keep}</code> — 15% off (oil), until" in shown, shown
    assert used not in shown and shown.count("<code>") == 1
    assert "Your status" in shown
    ru = app.user(OTHER, "ru", "Petr")
    petr = await join(app, ru, name="Petr")
    theirs = await _grant(app, petr.id, OfferKind.POINTS, "50")
    await ru.send("/offers")
    assert f"<code>{theirs}</code> — +50 баллов, до" in app.fake.last(OTHER).text


async def test_refund_of_an_offer_purchase_makes_nothing_from_nothing(app: App) -> None:
    """The offer stays used; the refund reverses what the purchase earned (earn + bonus)
    pro rata, up to the balance (SPEC.md, Refund), so neither a refund after spending nor
    one after the points expired leaves points that were never paid for."""
    _ivan, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.POINTS, "250")
    await cashier.send(f"/purchase {card} 1000 offer:{code}")  # 50 + 250
    await cashier.send("/refund 1 500")  # half: 150 back
    assert "Points reversed 150" in app.fake.last(CASHIER).text
    await cashier.send("/refund 1")
    assert "Points reversed 150" in app.fake.last(CASHIER).text
    customer = await app.customer(id=cid)
    assert customer is not None and customer.balance == 0
    assert (await _offer(app, code)).used_at is not None  # stays used: no second bonus
    await cashier.send(f"/purchase {card} 1000 offer:{code}")
    assert "already been used" in app.fake.last(CASHIER).text
    pct = await _grant(app, cid, OfferKind.PERCENT, "20")
    await cashier.send(f"/purchase {card} 1000 offer:{pct}")  # 800 paid, 40 points
    await cashier.send("/refund 2 900")  # only what was paid can be refunded
    assert "₽800.00" in app.fake.last(CASHIER).text, app.fake.last(CASHIER).text
    assert "Refund on" not in app.fake.last(CASHIER).text
    assert await app.balance_consistent()


async def test_refund_after_the_points_expired_takes_nothing_below_zero(app: App) -> None:
    _, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.POINTS, "250")
    await cashier.send(f"/purchase {card} 1000 offer:{code}")
    app.clock.advance(timedelta(days=31 * app.biz.settings.expiry.months + 1))
    await expiry.run_daily(app.biz)
    customer = await app.customer(id=cid)
    assert customer is not None and customer.balance == 0
    await cashier.send("/refund 1")
    assert "not recovered 300" in app.fake.last(CASHIER).text, app.fake.last(CASHIER).text
    customer = await app.customer(id=cid)
    assert customer is not None and customer.balance == 0
    assert await app.balance_consistent()


async def test_tier_spend_counts_what_was_paid_and_a_refund_reverses_at_the_rate_earned(
    app: App,
) -> None:
    """Retail preset: Silver from 30 000 spent (7 %), Base earns 5 %. A list price of
    32 000 with 10 % off books 28 800: still Base, 1 440 points. 2 000 more (30 800 paid)
    promotes to Silver, earning 100 at Base; then 1 000 earns 70 at Silver. Refunding the
    offer purchase takes back exactly its 1 440: 100 + 70 = 170 remain, the offer stays
    used, and Silver is kept for the grace period (demotion is not immediate)."""
    _, cashier, cid, card = await _setup(app)
    code = await _grant(app, cid, OfferKind.PERCENT, "10")
    await cashier.send(f"/purchase {card} 32000 offer:{code}")
    customer = await app.customer(id=cid)
    assert customer is not None and customer.tier in (None, "base")
    assert customer.balance == 1440
    await cashier.send(f"/purchase {card} 2000")
    await cashier.send(f"/purchase {card} 1000")
    customer = await app.customer(id=cid)
    assert customer is not None and customer.tier == "silver" and customer.balance == 1610
    await cashier.send("/refund 1")
    assert "Points reversed 1,440" in app.fake.last(CASHIER).text, app.fake.last(CASHIER).text
    customer = await app.customer(id=cid)
    assert customer is not None and customer.balance == 170 and customer.tier == "silver"
    assert customer.below_tier_since == app.clock.now()
    assert (await _offer(app, code)).used_at is not None
    assert await app.balance_consistent()

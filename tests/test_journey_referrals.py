"""Referrals (SPEC.md, Rules that need one answer): "Referral reward: both sides, on the
referred customer's first purchase whose net amount reaches `referral.min_purchase`;
refunding it below that reverses both rewards. A customer who used `/forget` and joins
again ... triggers no second referral. Nobody invites themselves." Through the dispatcher,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import AuditEntry, Customer, LedgerEntry
from bot.testing.telegram_double import ChatUser, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, ANNA, BORIS = 6001, 5001, 5002
REFERRER, REFERRED, MINIMUM = 300, 150, 500


@pytest.fixture
def settings(db_url: str) -> Settings:
    # welcome_bonus stays 0 (the default): the /forget check must not depend on it.
    return make_settings(
        db_url,
        referral={
            "referrer_points": REFERRER,
            "referred_points": REFERRED,
            "min_purchase": str(MINIMUM),
        },
    )


async def _invited(app: App, inviter: Customer, tg_id: int, phone: str | None = None) -> Customer:
    """``tg_id`` joins through ``inviter``'s link."""
    return await join(app, app.user(tg_id, "en"), "Boris", phone, invited_by=inviter.card_code)


async def _cashier(app: App) -> ChatUser:
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    return cashier


async def _referral_entries(app: App) -> list[tuple[int, str, int, int | None, str]]:
    """(customer, kind, points, purchase, key) of every referral entry and its reversal."""
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(
                LedgerEntry.customer_id,
                LedgerEntry.kind,
                LedgerEntry.points,
                LedgerEntry.purchase_id,
                LedgerEntry.idempotency_key,
            )
            .where(LedgerEntry.reason.like("%referral%"))
            .order_by(LedgerEntry.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _balances(app: App, *tg_ids: int) -> list[int]:
    found = [await app.customer(telegram_id=t) for t in tg_ids]
    return [c.balance for c in found if c is not None]


async def test_only_a_qualifying_purchase_rewards_and_the_bonus_names_it(app: App) -> None:
    anna = await join(app, app.user(ANNA, "en"), name="Anna")
    boris = await _invited(app, anna, BORIS)
    assert boris.referred_by == anna.id
    cashier = await _cashier(app)
    await cashier.send(f"/purchase {boris.card_code} 499.99")  # below the minimum: +24
    assert await _referral_entries(app) == [], "a small purchase rewards nobody ..."
    await cashier.send(f"/purchase {boris.card_code} 500")  # qualifies: +25, and both bonuses
    assert [(c, k, p, pid) for c, k, p, pid, _ in await _referral_entries(app)] == [
        (boris.id, "bonus", REFERRED, 2),  # ... and does not use the reward up
        (anna.id, "bonus", REFERRER, 2),
    ]
    await cashier.send(f"/purchase {boris.card_code} 5000")  # once only
    assert len(await _referral_entries(app)) == 2
    assert await _balances(app, ANNA, BORIS) == [REFERRER, 24 + 25 + REFERRED + 250]
    await app.deliver()
    assert any(f"+{REFERRER} points" in t for t in app.fake.texts(ANNA))
    await app.user(ANNA, "en").send("/history")
    assert "№" not in app.fake.last(ANNA).text, "the friend's purchase number stays theirs"
    await app.user(BORIS, "en").send("/history")
    assert "№2" in app.fake.last(BORIS).text
    assert await app.balance_consistent()


async def test_refund_below_the_minimum_reverses_both_rewards_up_to_the_balance(
    app: App,
) -> None:
    anna_user = app.user(ANNA, "en")
    anna = await join(app, anna_user, name="Anna")
    boris = await _invited(app, anna, BORIS)
    cashier = await _cashier(app)
    await cashier.send(f"/purchase {boris.card_code} 1000")  # №1: +50, rewards both
    await cashier.send(f"/redeem {anna.card_code} 250")  # Anna spends most of her reward
    await app.deliver()
    prompt = app.fake.last(ANNA)
    await anna_user.click(find_button(prompt, "Confirm"), prompt)
    assert await _balances(app, ANNA, BORIS) == [REFERRER - 250, 50 + REFERRED]

    await cashier.send("/refund 1 400")  # net 600: still qualifies, only earned points go
    assert len(await _referral_entries(app)) == 2
    assert await _balances(app, ANNA, BORIS) == [50, 50 - 20 + REFERRED]

    crossing = cashier.build_message("/refund 1 200")  # net 400 < 500: both rewards reversed
    await asyncio.gather(cashier.feed(crossing), cashier.feed(crossing))  # and re-delivered
    refund_key = await _last_audit_key(app, "refund")
    entries = await _referral_entries(app)
    assert [(c, k, p, pid) for c, k, p, pid, _ in entries[2:]] == [
        (boris.id, "reversal", -REFERRED, 1),
        (anna.id, "reversal", -50, 1),  # all she has left; 250 not recovered
    ]
    assert [key for *_, key in entries[2:]] == [
        f"{refund_key}:referral:referred",
        f"{refund_key}:referral:referrer",
    ], "keys derived from the refund's key"
    assert await _balances(app, ANNA, BORIS) == [0, 50 - 30]
    async with app.biz.db.read() as session:
        audit = (
            await session.execute(
                select(AuditEntry.customer_id, AuditEntry.details)
                .where(AuditEntry.action == "referral_reversed")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(cid, d["reversed"], d["shortfall"]) for cid, d in audit] == [
        (boris.id, REFERRED, 0),
        (anna.id, 50, REFERRER - 50),
    ]
    await app.deliver()
    told = [t for t in app.fake.texts(ANNA) if "friend's purchase was refunded" in t]
    assert len(told) == 1 and "−50 points" in told[0], "told once"

    await cashier.send("/refund 1")  # the rest: nothing more to reverse for the referral
    await cashier.send(f"/purchase {boris.card_code} 2000")  # the reward was used up
    assert len(await _referral_entries(app)) == 4
    assert await app.balance_consistent()


async def test_a_changed_minimum_neither_reverses_twice_nor_skips_the_reversal(
    app: App,
) -> None:
    """Decided from the state, with the minimum in force: lowering it after a reversal
    reverses nothing more; raising it above what is left after a refund reverses once."""
    anna = await join(app, app.user(ANNA, "en"), name="Anna")
    boris = await _invited(app, anna, BORIS)
    cashier = await _cashier(app)
    await cashier.send(f"/purchase {boris.card_code} 1000")  # №1 rewards both
    await cashier.send("/refund 1 600")  # net 400 < 500: reversed
    assert len(await _referral_entries(app)) == 4
    lowered = _with_minimum(app, "100")
    await lowered.user(CASHIER, "en").send("/refund 1 350")  # net 50, below 100 as well
    assert len(await _referral_entries(app)) == 4, "not reversed a second time"

    clara = await _invited(app, anna, 5003, phone="+79165550303")
    await cashier.send(f"/purchase {clara.card_code} 600")  # №2 rewards both (min 500)
    assert len(await _referral_entries(app)) == 6
    raised = _with_minimum(app, "1000")
    await raised.user(CASHIER, "en").send("/refund 2")  # nothing left: reversed once
    assert [(k, p) for _, k, p, _, _ in (await _referral_entries(app))[6:]] == [
        ("reversal", -REFERRED),
        ("reversal", -REFERRER),
    ]
    assert await app.balance_consistent()


async def test_a_one_sided_reward_is_taken_back_once(app: App, db_url: str) -> None:
    """With referred_points = 0 only the referrer was paid: later refunds of the same
    purchase take nothing more back (the referred side's audit row marks it)."""
    one_sided = app.variant(
        make_settings(db_url, referral={"referrer_points": REFERRER, "referred_points": 0,
                                        "min_purchase": str(MINIMUM)})
    )  # fmt: skip
    anna = await join(one_sided, one_sided.user(ANNA, "en"), name="Anna")
    boris = await _invited(one_sided, anna, BORIS)
    cashier = one_sided.user(CASHIER, "en")
    await hire(one_sided, cashier)
    await cashier.send(f"/purchase {boris.card_code} 1000")
    await cashier.send(f"/purchase {boris.card_code} 700")  # №2: no reward on it
    await cashier.send("/refund 2")  # not the rewarded purchase: nothing taken back
    assert [k for _, k, *_ in await _referral_entries(one_sided)] == ["bonus"]
    for refund in ("/refund 1 600", "/refund 1 100", "/refund 1 100"):
        await cashier.send(refund)
    reversals = [p for _, k, p, *_ in await _referral_entries(one_sided) if k == "reversal"]
    assert reversals == [-REFERRER]
    assert await one_sided.balance_consistent()


def _with_minimum(app: App, minimum: str) -> App:
    """The same bot after the owner changed referral.min_purchase."""
    referral = {"referrer_points": REFERRER, "referred_points": REFERRED, "min_purchase": minimum}
    return app.variant(make_settings(app.biz.settings.database.url, referral=referral))


async def _last_audit_key(app: App, action: str) -> str:
    async with app.biz.db.read() as session:
        key = await session.scalar(
            select(AuditEntry.update_key)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
    assert key is not None
    return key


async def test_forgotten_customer_rejoining_through_the_link_rewards_nobody(app: App) -> None:
    """With welcome_bonus = 0: /forget and a rejoin through the same link must not farm the
    referrer."""
    anna = await join(app, app.user(ANNA, "en"), name="Anna")
    cashier = await _cashier(app)
    boris = await _invited(app, anna, BORIS)
    await cashier.send(f"/purchase {boris.card_code} 1000")
    assert await _balances(app, ANNA) == [REFERRER]
    user = app.user(BORIS, "en")
    await user.send("/forget")
    await user.click(find_button(app.fake.last(BORIS), "Yes"), app.fake.last(BORIS))
    again = await _invited(app, anna, BORIS, phone="+79169990000")
    assert again.referred_by is None
    await cashier.send(f"/purchase {again.card_code} 1000")
    assert await _balances(app, ANNA) == [REFERRER]
    assert len(await _referral_entries(app)) == 2


async def test_nobody_invites_themselves(app: App) -> None:
    anna_user = app.user(ANNA, "en")
    anna = await join(app, anna_user, name="Anna")
    before = await app.counts(include_audit=True)
    await anna_user.send(f"/start ref_{anna.card_code}")  # her own link, from /card
    assert "your own invitation link" in app.fake.last(ANNA).text
    assert await app.counts(include_audit=True) == before
    # Someone staff entered by phone opens the link of the card they were given.
    cashier = await _cashier(app)
    await cashier.send("/addcustomer +79165551234 Boris")
    entered = await app.customer(phone="+79165551234")
    assert entered is not None
    boris = await _invited(app, entered, BORIS, phone="+79165551234")
    assert (boris.id, boris.referred_by) == (entered.id, None)

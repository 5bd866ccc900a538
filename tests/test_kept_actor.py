"""A staff member's actor kept between purchases (issue 24): a purchase is one
transaction, and the actor is checked in it, so what changes who they are (an invite, a
removal, /forget, /language) applies to their next purchase, also when it happened in
another process. Two dispatchers on one database stand for two processes: each keeps its
own actors (``app.variant()``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditEntry, Purchase
from bot.testing.telegram_double import ChatUser, buttons, find_button
from handlers.middlewares import ActorMiddleware
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER, CUSTOMER = 6001, 5001


def _kept(app: App) -> dict[int, Any]:
    """The actors ``app``'s dispatcher keeps, by Telegram id."""
    middleware = next(m for m in app.dp.message.outer_middleware if isinstance(m, ActorMiddleware))
    return middleware.actors._rows


async def _count(app: App, model: type, **where: Any) -> int:
    async with app.biz.db.read() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(stmt) or 0)


async def _world(app: App, *, cashier_joins: bool = False) -> tuple[App, ChatUser, str]:
    """A customer; a cashier hired in process A (``app``), who then books a purchase in
    process B (returned): B keeps the cashier's actor."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    if cashier_joins:
        await join(app, app.user(CASHIER, "en"), name="Olga")
    await hire(app, app.user(CASHIER, "en"))
    other = app.variant()
    cashier = other.user(CASHIER, "en", "Olga")
    await cashier.send(f"/purchase {customer.card_code} 100")
    assert "Purchase №1 recorded" in app.fake.last(CASHIER).text
    assert CASHIER in _kept(other)
    return other, cashier, customer.card_code


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_removal_in_another_process_refuses_the_next_purchase(app: App) -> None:
    """SPEC.md, Roles: a removed cashier can do nothing privileged; nothing is written but
    the denial's audit row."""
    other, cashier, code = await _world(app)
    await app.owner.send("/staff")
    listing = app.fake.last(app.owner.user_id)
    await app.owner.click([d for t, d in buttons(listing) if "Test" in t][-1], listing)
    denied = await _count(app, AuditEntry, outcome="denied")
    await cashier.send(f"/purchase {code} 200")
    assert "not available" in app.fake.last(CASHIER).text
    assert await _count(app, Purchase) == 1
    assert await _count(app, AuditEntry, outcome="denied") == denied + 1
    assert CASHIER not in _kept(other)
    assert await app.balance_consistent()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_invite_in_another_process_lets_the_next_purchase_through(app: App) -> None:
    """Refused before the invite (nobody kept), booked after it, in the other process."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    other = app.variant()
    cashier = other.user(CASHIER, "en")
    await cashier.send(f"/purchase {customer.card_code} 100")
    assert "not available" in app.fake.last(CASHIER).text
    assert CASHIER not in _kept(other)
    await hire(app, app.user(CASHIER, "en"))
    await cashier.send(f"/purchase {customer.card_code} 100")
    assert "Purchase №1 recorded" in app.fake.last(CASHIER).text
    # removed and invited again, both in process A: B's kept actor is checked each time
    await app.owner.send("/staff")
    listing = app.fake.last(app.owner.user_id)
    await app.owner.click([d for t, d in buttons(listing) if "Test" in t][-1], listing)
    await hire(app, app.user(CASHIER, "en"))
    await cashier.send(f"/purchase {customer.card_code} 100")
    assert "Purchase №2 recorded" in app.fake.last(CASHIER).text
    assert await _count(app, Purchase) == 2


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_language_changed_in_another_process_is_the_next_reply_s(app: App) -> None:
    """A cashier who is also a customer answers in their stored language."""
    _other, cashier, code = await _world(app, cashier_joins=True)
    mine = app.user(CASHIER, "en")
    await mine.send("/language")
    await mine.click(find_button(app.fake.last(CASHIER), "Русский"), app.fake.last(CASHIER))
    await cashier.send(f"/purchase {code} 200")
    assert "проведена" in app.fake.last(CASHIER).text  # its number: PostgreSQL's sequence
    assert await _count(app, Purchase) == 2  # moved on in the attempt that rolled back


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_forget_in_another_process_is_seen_by_the_next_purchase(app: App) -> None:
    """After /forget the cashier has no customer row: the reply follows Telegram's
    language (Russian here), no longer the erased row's (English)."""
    _other, _cashier, code = await _world(app, cashier_joins=True)
    mine = app.user(CASHIER, "ru")
    await mine.send("/forget")
    await mine.click(find_button(app.fake.last(CASHIER), "Yes, erase"), app.fake.last(CASHIER))
    cashier = _other.user(CASHIER, "ru")
    await cashier.send(f"/purchase {code} 200")
    assert "проведена" in app.fake.last(CASHIER).text  # its number: PostgreSQL's sequence
    assert await _count(app, Purchase) == 2  # moved on in the attempt that rolled back


async def test_a_kept_actor_costs_no_statement_outside_the_transaction(app: App) -> None:
    """The second purchase of a cashier sends one transaction: nothing before its BEGIN."""
    from tests.test_lean_purchase import statements

    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 100")
    with statements(app.biz.db) as sent:
        await cashier.send(f"/purchase {customer.card_code} 200")
    assert "Purchase №2 recorded" in app.fake.last(CASHIER).text
    assert sent[0] == "BEGIN IMMEDIATE", sent
    assert sent.count("BEGIN IMMEDIATE") == 1, sent

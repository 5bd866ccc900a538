"""Concurrent redemptions of one balance cannot overdraw it (SPEC.md, Ledger: "Concurrent
redemptions of one balance (two staff phones at once) cannot overdraw it")."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.db.models import LedgerEntry, LedgerKind, Redemption, RedemptionState
from bot.services.counter.redemptions import decide_redemption, request_redemption
from bot.services.people.roles import Actor, Role
from bot.services.requests import RedeemRequest
from tests.conftest import BACKENDS
from tests.support.flows import join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

REQUESTS = 50
POINTS_EACH = 70
BALANCE = 1000


async def test_fifty_concurrent_redemptions(app: App) -> None:
    ivan = app.user(5001, "en")
    customer = await join(app, ivan)
    await app.owner.send(f"/adjust {customer.card_code} +{BALANCE} opening balance")
    cashier = Actor(tg_id=1000, role=Role.OWNER, locale="en", outlet_code="main")
    ids = []
    for n in range(REQUESTS):
        outcome = await request_redemption(
            app.biz, cashier, f"req:{n}", RedeemRequest(customer.card_code, POINTS_EACH, None)
        )
        ids.append(outcome.result.redemption_id)

    results = await asyncio.gather(
        *(decide_redemption(app.biz, ivan.user_id, f"cb:{rid}", rid, accept=True) for rid in ids)
    )

    states = [r.result.state for r in results]
    affordable = BALANCE // POINTS_EACH
    assert states.count(RedemptionState.CONFIRMED) == affordable
    assert states.count(RedemptionState.FAILED) == REQUESTS - affordable
    async with app.biz.db.read() as session:
        redeemed = await session.scalar(
            select(func.count()).where(LedgerEntry.kind == LedgerKind.REDEEM)
        )
        closed = await session.scalar(
            select(func.count()).where(Redemption.state != RedemptionState.PENDING)
        )
    assert redeemed == affordable and closed == REQUESTS
    after = await app.customer(id=customer.id)
    assert after is not None and after.balance == BALANCE - affordable * POINTS_EACH
    assert await app.balance_consistent()

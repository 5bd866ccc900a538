"""Property test: any sequence of earn / redeem / refund / adjust / time passing with the
expiry job keeps the ledger's invariants (SPEC.md, Ledger): the cached balance equals the
sum of the entries, no balance is ever negative, the expiry lots hold exactly the balance,
a refused operation writes nothing, and the balance matches a simple model of what each
accepted operation should do."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_business
from bot.clock import FrozenClock
from bot.db.engine import create_database
from bot.services.context import Business
from bot.services.counter.purchases import adjust, record_purchase, refund
from bot.services.counter.redemptions import decide_redemption, request_redemption
from bot.services.errors import ServiceError
from bot.services.members.signup import register
from bot.services.money import expiry
from bot.services.money.ledger import earned_points
from bot.services.money.tiers import earn_percent
from bot.services.people.roles import Actor, Role
from bot.services.people.staff import sync_outlets
from bot.services.requests import AdjustRequest, PurchaseRequest, RedeemRequest, RefundRequest
from tests.conftest import make_settings
from tests.support.harness import find_customer, ledger_consistent, table_counts

OWNER = Actor(tg_id=1000, role=Role.OWNER, locale="en", outlet_code="main")
CUSTOMER_TG = 5001

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50000"), places=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), amounts),
        st.tuples(
            st.just("redeem"),
            st.integers(min_value=1, max_value=3000),
            st.one_of(st.none(), amounts),  # the purchase paid with the points, if any
        ),
        st.tuples(
            st.just("refund"), st.integers(min_value=1, max_value=8), st.one_of(st.none(), amounts)
        ),
        st.tuples(st.just("adjust"), st.integers(min_value=-3000, max_value=3000).filter(bool)),
        st.tuples(st.just("age"), st.integers(min_value=1, max_value=400)),
    ),
    min_size=1,
    max_size=12,
)


async def _play(db_path: Path, ops: list[tuple]) -> None:
    url = f"sqlite+aiosqlite:///{db_path}"
    biz = build_business(make_settings(url), db=create_database(url), clock=FrozenClock())
    try:
        await sync_outlets(biz)
        joined = await register(
            biz,
            key="join",
            tg_id=CUSTOMER_TG,
            phone="+79161234567",
            name="Ivan",
            language="en",
            consent_at=biz.clock.now(),
        )
        code = joined.result.card_code
        expected = 0
        for n, op in enumerate(ops):
            before = await table_counts(biz.db, include_audit=True)
            try:
                expected += await _apply(biz, n, code, op)
            except ServiceError:
                assert await table_counts(biz.db, include_audit=True) == before, (
                    f"refused {op} wrote rows"
                )
            customer = await find_customer(biz.db, card_code=code)
            assert customer is not None
            if op[0] not in ("refund", "age"):  # checked by the invariants, not the model
                assert customer.balance == expected, (op, customer.balance, expected)
            expected = customer.balance
            assert await ledger_consistent(biz.db)
            async with biz.db.read() as session:  # the expiry lots hold exactly the balance
                lots = await expiry.open_lots(session, customer.id, biz.settings.expiry.months)
            assert sum(lot.remaining for lot in lots) == customer.balance, (op, lots)
    finally:
        await biz.db.dispose()


async def _apply(biz: Business, n: int, code: str, op: tuple) -> int:
    """Run one operation; return the balance change the model expects."""
    kind = op[0]
    if kind == "earn":  # at the tier held before the purchase (SPEC.md)
        held = await find_customer(biz.db, card_code=code)
        rate = earn_percent(biz.settings, held.tier if held else None)
        await record_purchase(biz, OWNER, f"op{n}", PurchaseRequest(code, op[1], None, None))
        return earned_points(op[1], biz.settings.loyalty, rate)
    if kind == "adjust":
        await adjust(biz, OWNER, f"op{n}", AdjustRequest(code, op[1], "test"))
        return op[1]
    if kind == "refund":
        await refund(biz, OWNER, f"op{n}", RefundRequest(op[1], op[2]))
        return 0
    if kind == "age":  # time passes and the expiry job runs
        biz.clock.advance(timedelta(days=op[1]))  # type: ignore[attr-defined]
        await expiry.run_daily(biz)
        return 0
    asked = await request_redemption(biz, OWNER, f"op{n}", RedeemRequest(code, op[1], op[2]))
    decided = await decide_redemption(
        biz, CUSTOMER_TG, f"cb{n}", asked.result.redemption_id, accept=True
    )
    confirmed = decided.result.state == "confirmed"
    return decided.result.earned - op[1] if confirmed else 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_random_operations_keep_ledger_invariants(ops: list[tuple], sqlite_template: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.db"
        shutil.copyfile(sqlite_template, path)
        asyncio.run(_play(path, ops))

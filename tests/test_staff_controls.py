"""Controls on staff (issue 22, item 7): a staff member's daily cap on purchases credited
and on their amount (``controls.caps``, per role), beyond which a purchase waits for an
owner's button; an ``/adjust`` over ``controls.adjust_second_owner_points`` needs a second
owner where there are two. Driven through real updates; what the cashier, the customer
and the owners receive is read from the Bot API double.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.config import ConfigError
from bot.db.engine import Database
from bot.db.models import Approval, LedgerEntry, Purchase
from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import BACKENDS, base_config, make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App
from tests.test_lean_purchase import MAX_STATEMENTS, statements

CASHIER, CUSTOMER, SECOND_OWNER = 6001, 5001, 1001
CAPS = {"caps": {"staff": {"purchases": 2, "amount": "10000"}}}


@pytest.fixture
async def capped(app: App) -> AsyncIterator[App]:
    settings = make_settings(
        app.biz.settings.database.url, controls=CAPS,
        business={"owner_ids": [OWNER_ID, SECOND_OWNER], "default_language": "en"},
    )  # fmt: skip
    yield app.variant(settings)


async def _rows(app: App, model: type, **where: Any) -> int:
    async with app.biz.db.read() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(stmt) or 0)


async def _held(app: App) -> tuple[ChatUser, ChatUser, Any]:
    """A customer, a hired cashier at the cap (two purchases), and a third purchase held."""
    user = app.user(CUSTOMER, "en")
    customer = await join(app, user)
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    for amount in (1000, 2000):
        await cashier.send(f"/purchase {customer.card_code} {amount}")
        assert "recorded" in app.fake.last(CASHIER).text
    await cashier.send(f"/purchase {customer.card_code} 3000 tyres")
    return user, cashier, customer


def _ask(app: App, owner_id: int) -> Any:
    return next(c for c in reversed(app.fake.sent(owner_id)) if buttons(c))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_over_the_cap_waits_then_one_approval_credits_once(capped: App) -> None:
    app = capped
    _user, _cashier, customer = await _held(app)
    reply = app.fake.last(CASHIER).text
    assert "Over your daily cap" in reply and "request №1" in reply
    assert await _rows(app, Purchase) == 2 and await _rows(app, Approval, state="pending") == 1
    balance = (await app.customer(id=customer.id)).balance  # type: ignore[union-attr]
    await app.deliver()
    assert "waits for the manager's approval" in app.fake.last(CUSTOMER).text
    for owner_id in (OWNER_ID, SECOND_OWNER):
        ask = _ask(app, owner_id)
        assert "Olga" in ask.text and customer.card_code in ask.text and "2 purchases" in ask.text
    owner = app.owner
    press = owner.build_callback(find_button(_ask(app, OWNER_ID), "Approve"), _ask(app, OWNER_ID))
    await owner.feed(press)
    assert "Approved request №1: purchase №3" in app.fake.last(OWNER_ID).text
    await owner.feed(press)  # Telegram delivers the same callback again
    assert "Already recorded" in app.fake.last(OWNER_ID).text
    second = app.user(SECOND_OWNER, "en", "Pavel")
    await second.click(find_button(_ask(app, SECOND_OWNER), "Approve"), _ask(app, SECOND_OWNER))
    assert "already decided" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    assert await _rows(app, Purchase) == 3
    assert await _rows(app, LedgerEntry, idempotency_key="apv:1:earn") == 1
    after = (await app.customer(id=customer.id)).balance  # type: ignore[union-attr]
    assert after == balance + 150  # 5 % of 3 000, once
    await app.deliver()
    assert "Approved: purchase №3" in app.fake.last(CASHIER).text
    assert "+150" in app.fake.last(CUSTOMER).text
    assert await app.balance_consistent()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_rejected_purchase_never_credits(capped: App) -> None:
    app = capped
    _user, _cashier, customer = await _held(app)
    await app.deliver()
    ask = _ask(app, OWNER_ID)
    await app.owner.click(find_button(ask, "Reject"), ask)
    assert "Rejected request №1" in app.fake.last(OWNER_ID).text
    before = await app.counts()
    await app.owner.click(find_button(ask, "Approve"), ask)  # a late press: refused
    assert "already decided" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    assert await app.counts() == before
    assert await _rows(app, Purchase) == 2
    await app.deliver()
    assert "not credited" in app.fake.last(CUSTOMER).text
    assert "Not approved" in app.fake.last(CASHIER).text
    assert (await app.customer(id=customer.id)).balance == 150  # type: ignore[union-attr]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_forged_and_foreign_presses_write_nothing(capped: App) -> None:
    """A made-up request number, a malformed answer, the cashier pressing the owner's
    button, and a held purchase asked again (same update): nothing is written."""
    app = capped
    _user, cashier, _customer = await _held(app)
    await app.deliver()
    ask = _ask(app, OWNER_ID)
    before = await app.counts()
    await app.owner.click("apv:y:999", ask)
    assert "no such request" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    await app.owner.click("apv:x:1", ask)  # not a button the bot makes: unhandled
    await app.owner.click("apv:y:-1", ask)
    await cashier.click(find_button(ask, "Approve"), ask)
    assert "not available" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    assert await app.counts() == before
    assert await _rows(app, Approval, state="pending") == 1


async def test_an_amount_over_the_cap_waits_and_plain_ones_stay_lean(capped: App) -> None:
    """Under the cap a purchase still costs at most 8 statements (the day's figures ride
    on its first one); one purchase over the amount cap waits at once."""
    app = capped
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 100")  # warm
    with statements(app.biz.db) as sent:
        await cashier.send(f"/purchase {customer.card_code} 200")
    assert "Purchase №2 recorded" in app.fake.last(CASHIER).text
    assert len(sent) <= MAX_STATEMENTS, "\n".join(sent)
    await cashier.send(f"/purchase {customer.card_code} 0,5")
    assert "Over your daily cap" in app.fake.last(CASHIER).text  # the third of the day
    assert await _rows(app, Purchase) == 2


async def test_one_purchase_over_the_amount_cap_waits(app: App) -> None:
    settings = make_settings(
        app.biz.settings.database.url, controls={"caps": {"staff": {"amount": "5000"}}}
    )
    app = app.variant(settings)
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 5000")
    assert "Purchase №1 recorded" in app.fake.last(CASHIER).text  # at the cap: fine
    await cashier.send(f"/purchase {customer.card_code} 0,01")
    assert "Over your daily cap" in app.fake.last(CASHIER).text
    app.clock.advance(timedelta(hours=24))  # a new local day: the cap starts again
    await cashier.send(f"/purchase {customer.card_code} 100")
    assert "Purchase №2 recorded" in app.fake.last(CASHIER).text


async def test_over_the_cap_with_an_offer_or_nobody_to_approve_is_refused(app: App) -> None:
    """An owner capped (owner caps) with no other owner: refused, nothing written; a
    cashier's purchase naming an offer cannot wait: refused, nothing written."""
    settings = make_settings(
        app.biz.settings.database.url,
        controls={"caps": {"owner": {"purchases": 1}, "staff": {"purchases": 1}}},
    )
    app = app.variant(settings)
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await app.owner.send(f"/purchase {customer.card_code} 100")
    await cashier.send(f"/purchase {customer.card_code} 100")
    before = await app.counts()
    await app.owner.send(f"/purchase {customer.card_code} 100")
    assert "no other owner to approve" in app.fake.last(OWNER_ID).text
    await cashier.send(f"/purchase {customer.card_code} 100 offer:K7M2XQ9")
    assert "an offer cannot wait" in app.fake.last(CASHIER).text
    assert await app.counts() == before


@pytest.mark.parametrize(
    "caps",
    [
        {"staff": {"purchases": 0}},
        {"staff": {"purchases": -3}},
        {"staff": {"amount": "0"}},
        {"staff": {"amount": "-100"}},
        {"staff": {}},
        {"cashier": {"purchases": 5}},
    ],
)
def test_a_cap_of_zero_negative_empty_or_unknown_role_is_refused(caps: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"controls\.caps"):
        from bot.config import settings_from_dict

        settings_from_dict(base_config("sqlite+aiosqlite:///x.db", controls={"caps": caps}),
                           use_env=False)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_crash_between_booking_and_deciding_leaves_it_pending(capped: App) -> None:
    """The approval's booking and its decision commit together: the transaction dies on
    the statement that marks the request approved (after the purchase and its entry were
    written in it), nothing stays; the owner presses again and it is credited once."""
    app = capped
    _user, _cashier, _customer = await _held(app)
    await app.deliver()
    ask = _ask(app, OWNER_ID)
    before = await app.counts()
    crash = _failing(app.biz.db, "UPDATE approvals")
    with crash:  # the error handler logs it and apologises; the transaction rolled back
        await app.owner.click(find_button(ask, "Approve"), ask)
    assert crash.fired
    assert await app.counts() == before
    await app.owner.click(find_button(ask, "Approve"), ask)
    assert await _rows(app, Purchase) == 3
    assert await _rows(app, LedgerEntry, idempotency_key="apv:1:earn") == 1
    assert await app.balance_consistent()


class _failing:
    """Raise on the first statement starting with ``prefix`` (a crash mid-transaction)."""

    def __init__(self, db: Database, prefix: str) -> None:
        self.engines, self.prefix, self.fired = db.sync_engines(), prefix, False

    def _check(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not self.fired and statement.lstrip().startswith(self.prefix):
            self.fired = True
            raise RuntimeError("crash")

    def __enter__(self) -> None:
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._check)

    def __exit__(self, *_exc: object) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._check)


async def test_a_large_adjust_needs_a_second_owner(app: App) -> None:
    settings = make_settings(
        app.biz.settings.database.url, controls={"adjust_second_owner_points": 1000},
        business={"owner_ids": [OWNER_ID, SECOND_OWNER], "default_language": "en"},
    )  # fmt: skip
    app = app.variant(settings)
    customer = await join(app, app.user(CUSTOMER, "en"))
    await app.owner.send(f"/adjust {customer.card_code} +1000 apology")  # at the threshold
    assert "balance 1,000" in app.fake.last(OWNER_ID).text
    await app.owner.send(f"/adjust {customer.card_code} +5000 wrong card last week")
    assert "needs a second owner" in app.fake.last(OWNER_ID).text
    assert (await app.customer(id=customer.id)).balance == 1000  # type: ignore[union-attr]
    await app.deliver()
    ask = _ask(app, SECOND_OWNER)
    assert "+5,000" in ask.text and "wrong card last week" in ask.text
    assert not any("+5,000" in c.text for c in app.fake.sent(OWNER_ID) if buttons(c))
    before = await app.counts()
    await app.owner.click(find_button(ask, "Approve"), ask)  # the owner who asked: refused
    assert "another owner has to decide" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    assert await app.counts() == before
    second = app.user(SECOND_OWNER, "en", "Pavel")
    await second.click(find_button(ask, "Approve"), ask)
    assert "balance 6,000" in app.fake.last(SECOND_OWNER).text
    await second.click(find_button(ask, "Approve"), ask)  # twice: refused
    assert "already decided" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    assert (await app.customer(id=customer.id)).balance == 6000  # type: ignore[union-attr]
    await app.deliver()
    assert "A second owner approved +5,000" in app.fake.last(OWNER_ID).text
    assert "6,000" in app.fake.last(CUSTOMER).text
    assert await app.balance_consistent()


async def test_with_one_owner_a_large_adjust_is_posted_at_once(app: App) -> None:
    settings = make_settings(
        app.biz.settings.database.url, controls={"adjust_second_owner_points": 1000}
    )
    app = app.variant(settings)
    customer = await join(app, app.user(CUSTOMER, "en"))
    await app.owner.send(f"/adjust {customer.card_code} +5000 opening balance")
    assert "balance 5,000" in app.fake.last(OWNER_ID).text
    assert await _rows(app, Approval) == 0
    assert Decimal((await app.customer(id=customer.id)).balance) == 5000  # type: ignore[union-attr]

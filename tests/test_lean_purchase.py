"""The lean purchase path (issue 13): a /purchase costs at most 8 SQL statements, BEGIN
and the exactly-once claim counted, with every effect still written; a refusal or a
replay rolls back the credit its first statement made; SQLite's write transactions take
turns in the process instead of failing on the file lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from bot.db.engine import Database, WriterQueue, create_database
from bot.db.models import (
    AuditEntry,
    LedgerEntry,
    Offer,
    OfferKind,
    OutboxMessage,
    ProcessedUpdate,
    Purchase,
    Survey,
)
from bot.services.money import offers
from bot.testing.telegram_double import find_button
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER, CUSTOMER, OTHER = 6001, 5001, 5002
MAX_STATEMENTS = 8
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement sent to the database meanwhile: cursor executes (SQLite's BEGIN
    IMMEDIATE is one), and on PostgreSQL the BEGIN the driver sends for a transaction."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split())[:90])

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            sent.append("BEGIN (driver)")

    engines = db.sync_engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
        if not db.is_sqlite:
            event.listen(engine, "begin", begin)
    try:
        yield sent
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
            if not db.is_sqlite:
                event.remove(engine, "begin", begin)


async def _rows(app: App, model: type, **where: Any) -> int:
    async with app.biz.db.read() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(stmt) or 0)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_one_purchase_costs_at_most_eight_statements(app: App) -> None:
    """The whole update (the actor's lookup included), and every effect is there: the
    purchase, its ledger entry, the customer's notice, the audit row and the claim."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 100")  # warm: statements built once
    with statements(app.biz.db) as sent:
        update = cashier.build_message(f"/purchase {customer.card_code} 2000")
        await cashier.feed(update)
    assert "Purchase №2 recorded" in app.fake.last(CASHIER).text
    assert len(sent) <= MAX_STATEMENTS, "\n".join(sent)
    assert sum("processed_updates" in s and s.startswith("INSERT") for s in sent) == 1, sent
    begin = "BEGIN IMMEDIATE" if app.biz.db.is_sqlite else "BEGIN (driver)"
    assert sent.count(begin) == 1, sent
    key = f"u:{update.update_id}"
    assert await _rows(app, ProcessedUpdate, key=key) == 1
    assert await _rows(app, AuditEntry, update_key=key, action="purchase") == 1
    assert await _rows(app, LedgerEntry, idempotency_key=f"{key}:earn") == 1
    assert await _rows(app, Purchase) == 2
    assert await _rows(app, OutboxMessage, chat_id=CUSTOMER) >= 2
    assert await app.balance_consistent()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_refusals_roll_back_the_credit(app: App) -> None:
    """The first statement credits the customer before the rules that may refuse run: a
    repeated receipt, the cashier's own card, a card nobody holds and a replay leave every
    balance, row and the ledger as they were."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en", "Olga")
    own = await join(app, cashier, name="Olga")
    await hire(app, cashier)
    first = cashier.build_message(f"/purchase {customer.card_code} 1000 #R-1")
    await cashier.feed(first)
    before = await app.counts()
    balance = (await app.customer(id=customer.id)).balance  # type: ignore[union-attr]
    assert balance > 0
    for text in (
        f"/purchase {customer.card_code} 500 #R-1",  # the receipt number again
        f"/purchase {own.card_code} 500",  # the cashier's own card
        "/purchase ZZZZZ9 500",  # nobody's card
    ):
        await cashier.send(text)
    await cashier.feed(first)  # Telegram delivers the first update again
    assert "Already recorded" in app.fake.last(CASHIER).text
    assert await app.counts() == before
    assert (await app.customer(id=customer.id)).balance == balance  # type: ignore[union-attr]
    assert (await app.customer(id=own.id)).balance == 0  # type: ignore[union-attr]
    assert await app.balance_consistent()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_writers_take_turns(db_url: str) -> None:
    """With no busy wait at all (busy_timeout 0), twenty overlapping write transactions
    all commit because they queue in the process; without the queue SQLite refuses some
    ("database is locked"), so the queue is what serialises them."""

    async def write(db: Database, n: int) -> None:
        async with db.write() as session:
            session.add(
                AuditEntry(
                    actor_tg_id=n, actor_role="owner", action="t", outcome="ok",
                    created_at=NOW,
                )
            )  # fmt: skip
            await session.flush()
            await asyncio.sleep(0.005)  # hold the write lock while others arrive

    queued = create_database(db_url, busy_timeout_ms=0)
    queued.writers = WriterQueue(30)
    try:
        await asyncio.gather(*(write(queued, n) for n in range(20)))
        async with queued.read() as session:
            assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 20
    finally:
        await queued.dispose()

    unqueued = create_database(db_url, busy_timeout_ms=0)
    unqueued.writers = None
    try:
        outcomes = await asyncio.gather(
            *(write(unqueued, n) for n in range(20)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, OperationalError)]
        assert refused, "the control run overlapped no writers"
        assert all("locked" in str(o) for o in refused)
    finally:
        await unqueued.dispose()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_concurrent_purchases_count_each_other_for_the_tier(app: App) -> None:
    """Retail preset (seed 002's categories as configured in tests): Silver takes a spend
    of 30,000 in 12 months. Two purchases of 20,000 and 15,000 for one customer at once:
    whichever books second (it waited for the first's row lock) counts the first's, so
    the customer ends Silver. On PostgreSQL that holds only because the standing is read
    after the lock, not in the statement that waited."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    first = cashier.build_message(f"/purchase {customer.card_code} 20000")
    second = cashier.build_message(f"/purchase {customer.card_code} 15000")
    await asyncio.gather(cashier.feed(first), cashier.feed(second))
    assert await _rows(app, Purchase) == 2
    assert (await app.customer(id=customer.id)).tier == "silver"  # type: ignore[union-attr]
    assert await app.balance_consistent()


# What an offer or a survey adds to a plain purchase (measured and pinned, see README):
# the survey's insert; the offer's read, its conditional update (with the purchase's id)
# and the balance written back (money off changes what the first statement credited, a
# bonus adds to it); a points offer also adds its bonus to the purchase's earned points.
SURVEY_EXTRA, PERCENT_OFFER_EXTRA, POINTS_OFFER_EXTRA = 1, 3, 4


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_survey_and_an_offer_cost_a_few_statements_more(app: App) -> None:
    """An opted-in customer is asked after the purchase (one more statement); an offer used
    at the counter (``offer:<code>``) costs its own few, and every effect is written."""
    user = app.user(CUSTOMER, "en")
    customer = await join(app, user)
    await user.send("/settings")
    shown = app.fake.last(CUSTOMER)
    await user.click(find_button(shown, "Send me offers"), shown)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 100")  # warm: statements built once
    now = app.clock.now()
    codes = {}
    async with app.biz.db.write() as session:
        for kind, value in ((OfferKind.PERCENT, "10"), (OfferKind.POINTS, "50")):
            offer = await offers.grant(
                session, customer_id=customer.id, kind=kind, value=Decimal(value),
                valid_from=now, valid_until=now + timedelta(days=7), source="job:test",
                dedupe_key=None, now=now,
            )  # fmt: skip
            assert offer is not None
            codes[kind] = offer.code
    cases = (
        ("", MAX_STATEMENTS + SURVEY_EXTRA),
        (f" offer:{codes[OfferKind.PERCENT]}", MAX_STATEMENTS + SURVEY_EXTRA + PERCENT_OFFER_EXTRA),
        (f" offer:{codes[OfferKind.POINTS]}", MAX_STATEMENTS + SURVEY_EXTRA + POINTS_OFFER_EXTRA),
    )
    for number, (suffix, most) in enumerate(cases, start=2):
        with statements(app.biz.db) as sent:
            await cashier.send(f"/purchase {customer.card_code} 2000{suffix}")
        assert f"Purchase №{number} recorded" in app.fake.last(CASHIER).text
        assert len(sent) <= most, (suffix, "\n".join(sent))
        assert sum(s.startswith("INSERT INTO surveys") for s in sent) == 1, sent
    assert await _rows(app, Survey) == 4
    assert await _rows(app, Offer, used_purchase_id=3) == 1
    assert await _rows(app, Offer, used_purchase_id=4) == 1
    assert await app.balance_consistent()


async def test_sqlite_run_write_is_one_call_on_the_writer_thread(db_url: str) -> None:
    """``Database.run_write`` on a SQLite file: the whole transaction runs on the writer
    thread, in turn with the async engine's writers (busy_timeout 0: any overlap would be
    refused "database is locked"); a caller cancelled mid-transaction keeps its turn until
    the transaction has ended, and an exception rolls it back."""
    db = create_database(db_url, busy_timeout_ms=0)
    db.writers = WriterQueue(30)
    release = threading.Event()
    threads: list[str] = []

    def insert(n: int, *, hold: bool = False, fail: bool = False) -> Callable[[Any], None]:
        def work(conn: Any) -> None:
            threads.append(threading.current_thread().name)
            conn.execute(
                insert_audit, {"actor_tg_id": n, "actor_role": "owner", "action": "t",
                               "outcome": "ok", "created_at": NOW},
            )  # fmt: skip
            if hold:
                release.wait(5)
            if fail:
                raise RuntimeError("refused")

        return work

    async def orm_write(n: int) -> None:
        async with db.write() as session:
            session.add(AuditEntry(actor_tg_id=n, actor_role="owner", action="t", outcome="ok",
                                   created_at=NOW))  # fmt: skip

    insert_audit = AuditEntry.__table__.insert()
    try:
        held = asyncio.create_task(db.run_write(insert(1, hold=True)))
        await asyncio.sleep(0.05)
        held.cancel()
        behind = asyncio.create_task(orm_write(2))  # must wait for the held transaction
        await asyncio.sleep(0.05)
        assert not behind.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await held
        await behind
        with pytest.raises(RuntimeError):
            await db.run_write(insert(3, fail=True))
        await asyncio.gather(*(db.run_write(insert(10 + n)) for n in range(10)),
                             *(orm_write(20 + n) for n in range(10)))  # fmt: skip
        async with db.read() as session:
            written = set(await session.scalars(select(AuditEntry.actor_tg_id)))
        assert written == {1, 2} | set(range(10, 20)) | set(range(20, 30))  # not 3
        assert set(threads) == {threads[0]} and threads[0].startswith("sqlite-writer")
    finally:
        await db.dispose()

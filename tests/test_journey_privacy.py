"""/mydata and /forget (SPEC.md, Privacy): the export is what the database holds; erasure
leaves the customer's phone and name in no table at all (every text and JSON column of
every table is scanned), keeps the books' totals, and a rejoin gets no second welcome
bonus ("a salted hash of the Telegram id is kept for that alone")."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import JSON, BigInteger, String, Text, create_engine, func, select, text

from bot.config import Settings
from bot.db.models import Base, Customer, LedgerEntry, Purchase
from bot.services.members import privacy
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire
from tests.support.harness import App

CASHIER = 6001
NAME, PHONE = "Евлампия", "+79161234567"
COUNTER_NAME = "Акакий"  # what the cashier typed at the counter, before the customer joined
WELCOME = 100


@pytest.fixture
def settings(db_url: str) -> Settings:
    fields = [{"code": "make", "labels": {"ru": "Марка", "en": "Make"}}]
    return make_settings(db_url, profile={"fields": fields}, loyalty={"welcome_bonus": WELCOME})


async def _join(app: App, tg_id: int = 5001) -> Customer:
    user = app.user(tg_id, "en")
    await user.send("/start")
    await user.click(buttons(app.fake.last(tg_id))[0][1], app.fake.last(tg_id))
    await user.send_contact(PHONE)
    await user.send(NAME)
    await user.send("02.05.1988")
    await user.send("Lada")
    offers = app.fake.last(tg_id)  # issue 20: the last question, offers yes or no
    await user.click(buttons(offers)[-1][1], offers)
    customer = await app.customer(telegram_id=tg_id)
    assert customer is not None and customer.signup_step is None
    return customer


async def _history(app: App, customer: Customer) -> None:
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 1000")
    await cashier.send(f"/note {customer.card_code} {NAME} prefers mornings, call {PHONE}")
    await app.owner.send(f"/adjust {customer.card_code} +10 gift for {NAME}")
    await cashier.send(f"/redeem {customer.card_code} 20")  # pending: waits for the customer


async def test_mydata_is_what_the_database_holds(app: App) -> None:
    customer = await _join(app)
    await _history(app, customer)
    user = app.user(5001, "en")
    await user.send("/mydata")
    sent = app.fake.last(5001)
    assert sent.method == "sendDocument"
    exported = await privacy.export(app.biz, 5001)
    document = json.dumps(exported, ensure_ascii=False, indent=2).encode()
    assert sent.params["document"] == {"filename": "my-data.json", "size": len(document)}

    stored = await app.customer(telegram_id=5001)
    assert stored is not None
    person = exported["customer"]
    assert (person["name"], person["phone"], person["telegram_id"]) == (NAME, PHONE, 5001)
    assert person["birthday"] == date(1988, 5, 2).isoformat()
    assert person["profile"] == {"make": "Lada"} == stored.profile
    assert person["balance"] == stored.balance and person["card_code"] == stored.card_code
    assert person["consent_version"] == stored.consent_version
    async with app.biz.db.read() as session:
        ledger = (
            await session.execute(
                select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.points)
                .where(LedgerEntry.customer_id == stored.id)
                .order_by(LedgerEntry.id)
            )
        ).all()
        amounts = list(await session.scalars(select(Purchase.amount).order_by(Purchase.id)))
    assert [(e["id"], e["kind"], e["points"]) for e in exported["ledger"]] == [
        tuple(row) for row in ledger
    ]
    assert [p["amount"] for p in exported["purchases"]] == [str(a) for a in amounts]
    assert [n["text"] for n in exported["notes"]] == [f"{NAME} prefers mornings, call {PHONE}"]
    assert len(exported["redemptions"]) == 1
    staff_columns = [
        (section, key)
        for section, rows in exported.items()
        if isinstance(rows, list)
        for row in rows
        for key in row
        if key.startswith("author")
    ]
    assert staff_columns == [], "staff Telegram ids are not the customer's data"
    assert str(CASHIER) not in document.decode()


async def _all_text(app: App) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text and JSON value in the database."""
    found = []
    async with app.biz.db.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            if not columns:
                continue
            for row in (await session.execute(select(*columns))).all():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if not isinstance(value, str):
                        value = json.dumps(value, ensure_ascii=False)
                    found.append((table.name, column.name, value))
    return found


async def test_forget_erases_personal_data_everywhere(app: App) -> None:
    customer = await _join(app)
    await _history(app, customer)
    needles = (NAME, PHONE, PHONE.lstrip("+"), "Lada")
    assert any(n in v for _, _, v in await _all_text(app) for n in needles), "test sanity"
    async with app.biz.db.read() as session:
        earned_before = await session.scalar(select(func.sum(Purchase.amount)))

    user = app.user(5001, "en")
    await user.send("/forget")
    confirm = app.fake.last(5001)
    await user.click(find_button(confirm, "Keep"), confirm)
    assert "Nothing was erased" in app.fake.last(5001).text
    await user.send("/forget")
    confirm = app.fake.last(5001)
    await user.click(find_button(confirm, "Yes, erase"), confirm)
    assert "has been erased" in app.fake.last(5001).text

    leaks = [(t, c) for t, c, v in await _all_text(app) for n in needles if n in v]
    assert leaks == []
    async with app.biz.db.read() as session:
        row = await session.get(Customer, customer.id)
        assert row is not None
        assert (row.telegram_id, row.birthday, row.erased_at) == (None, None, app.clock.now())
        assert row.card_code != customer.card_code, "the old card finds nobody"
        assert await session.scalar(select(func.sum(Purchase.amount))) == earned_before
    assert await app.balance_consistent()
    await app.deliver()
    assert "Pay with" not in " ".join(app.fake.texts(5001)[-3:]), "pending texts cancelled"


async def _telegram_ids(app: App, tg_id: int) -> list[tuple[str, str]]:
    """(table, column) of every big-integer value equal to ``tg_id`` in the database."""
    found = []
    async with app.biz.db.read() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, BigInteger):
                    hits = await session.scalar(
                        select(func.count()).select_from(table).where(column == tg_id)
                    )
                    if hits:
                        found.append((table.name, column.name))
    return found


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_forget_erases_counter_names_and_telegram_ids(app: App) -> None:
    """Staff entered the customer at the counter under another name; the customer then
    joined, tried a staff command, confirmed a redemption and got messages. /forget leaves
    neither name, nor the phone, nor their Telegram id anywhere (audit log, outbox, stored
    results), while staff ids in the audit log stay."""
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/addcustomer {PHONE} {COUNTER_NAME}")
    customer = await _join(app)
    user = app.user(5001, "en")
    await user.send(f"/purchase {customer.card_code} 10")  # refused: audited with their id
    await cashier.send(f"/purchase {customer.card_code} 1000")
    await cashier.send(f"/redeem {customer.card_code} 20")
    await app.deliver()
    prompt = app.fake.last(5001)
    await user.click(find_button(prompt, "Confirm"), prompt)
    await app.deliver()
    needles = (NAME, COUNTER_NAME, PHONE.lstrip("+"))
    assert any(n in v for _, _, v in await _all_text(app) for n in needles), "test sanity"
    assert {"audit_log", "outbox"} <= {t for t, _ in await _telegram_ids(app, 5001)}

    await user.send("/forget")
    await user.click(find_button(app.fake.last(5001), "Yes"), app.fake.last(5001))
    assert "has been erased" in app.fake.last(5001).text

    assert [(t, c) for t, c, v in await _all_text(app) for n in needles if n in v] == []
    assert await _telegram_ids(app, 5001) == []
    assert ("audit_log", "actor_tg_id") in await _telegram_ids(app, CASHIER)


async def test_erasure_finds_rows_through_indexes(app: App) -> None:
    """Every statement of an erasure searches an index (SQLite's query plan), so /forget
    costs time in proportion to the customer's rows, not to the size of any table."""
    engine = create_engine(app.biz.db.engine.url.set(drivername="sqlite"))
    plans = []
    with engine.connect() as conn:
        literal = {"literal_binds": True}
        for statement in privacy.erase_statements(customer_id=1, tg_id=5001):
            sql = str(statement.compile(dialect=conn.dialect, compile_kwargs=literal))
            plan = " | ".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            plans.append(plan)
    engine.dispose()
    # notes, survey comments, outbox, ledger reasons, approval reasons, mileage, personal
    # manager, new-car interest, audit
    assert len(plans) == 9
    for plan in plans:
        assert "SCAN" not in plan and ("USING INDEX" in plan or "PRIMARY KEY" in plan), plan


async def test_rejoin_after_forget_gets_no_second_welcome_bonus(app: App) -> None:
    await _join(app)
    user = app.user(5001, "en")
    await user.send("/forget")
    await user.click(find_button(app.fake.last(5001), "Yes"), app.fake.last(5001))
    again = await _join(app)
    assert again.balance == 0
    async with app.biz.db.read() as session:
        bonuses = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.reason == "welcome")
        )
    assert bonuses == 1


async def test_member_commands_refuse_strangers(app: App) -> None:
    stranger = app.user(7001, "en")
    for command in ("/mydata", "/forget", "/balance", "/card", "/history", "/settings"):
        before = await app.counts(include_audit=True)
        await stranger.send(command)
        assert "You have not joined yet" in app.fake.last(7001).text, command
        assert await app.counts(include_audit=True) == before

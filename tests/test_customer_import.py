"""Issue 12, import: `loyalty-bot import FILE [--apply]` brings an existing base (phone,
name, birthday, balance, profile fields) from CSV or XLSX. A dry run first; one bad row
(bad phone, a phone twice, a negative balance, an unknown column...) and every problem is
reported by row with nothing written; idempotent by phone; opening balances are ledger
entries of kind ``import``; the customer finds them on joining with that phone."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from typer.testing import CliRunner

from bot import spreadsheet
from bot.cli import app as cli
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry, Customer, LedgerEntry, LedgerKind
from bot.services.errors import ServiceError
from bot.services.members.customer_import import check, run_import
from bot.testing.telegram_double import find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import join
from tests.support.harness import App

FIELDS: list[dict[str, Any]] = [
    {"code": "make", "labels": {"ru": "Марка", "en": "Make"}},
    {"code": "year", "kind": "year", "labels": {"ru": "Год", "en": "Year"}, "min": 1950},
]
TODAY = date(2026, 1, 15)
GOOD_CSV = (
    "Phone;Name;Birthday;Balance;make;year\n"
    "8 916 555-01-01;Anna;31.12.1990;300;LADA;2020\n"
    "+7 916 555 01 02;Boris;;0;;\n"
    "\n"
    "79165550103;Vera;1985-05-01;1 500;Kia;\n"
)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, profile={"fields": FIELDS}, loyalty={"welcome_bonus": 50})


def _table(text: str) -> spreadsheet.Table:
    return spreadsheet.read(text.encode(), "csv")


async def _imported(app: App) -> list[tuple[str | None, str | None, int]]:
    async with app.biz.db.read() as session:
        rows = await session.scalars(select(Customer).order_by(Customer.phone))
        return [(c.phone, c.name, c.balance) for c in rows]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_dry_run_then_apply_then_again(app: App) -> None:
    table = _table(GOOD_CSV)
    before = await app.counts(include_audit=True)
    dry = await run_import(app.biz, table, apply=False)
    assert (dry.rows, dry.created, dry.credited, dry.unchanged, dry.points) == (3, 3, 0, 0, 1800)
    assert not dry.problems and not dry.applied
    assert await app.counts(include_audit=True) == before, "a dry run writes nothing"

    done = await run_import(app.biz, table, apply=True)
    assert (done.created, done.credited, done.unchanged, done.points) == (3, 0, 0, 1800)
    assert done.applied
    assert await _imported(app) == [
        ("+79165550101", "Anna", 300),
        ("+79165550102", "Boris", 0),
        ("+79165550103", "Vera", 1500),
    ]
    anna = await app.customer(phone="+79165550101")
    assert anna is not None and anna.telegram_id is None and anna.signup_step is None
    assert anna.birthday == date(1990, 12, 31) and anna.profile == {"make": "LADA", "year": 2020}
    async with app.biz.db.read() as session:
        entries = list(await session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)))
        audit = list(await session.scalars(select(AuditEntry)))
    assert [(e.kind, e.points) for e in entries] == [("import", 300), ("import", 1500)]
    assert all("+7" not in e.idempotency_key for e in entries), "the key holds no phone"
    assert [a.action for a in audit] == ["customer_import"]
    assert await app.balance_consistent()

    after = await app.counts()
    again = await run_import(app.biz, table, apply=True)
    assert (again.created, again.credited, again.unchanged, again.points) == (0, 0, 3, 0)
    assert await app.counts() == after, "a second import of the same file changes nothing"


async def test_bad_rows_are_all_reported_and_nothing_is_written(app: App) -> None:
    text = (
        "phone,name,balance,colour,birthday\n"
        "+79165550101,Anna,100,red,\n"  # fine but for the unknown column
        "12345,Boris,10,,\n"  # row 3: not a phone
        "+79165550103,Vera,-5,,\n"  # row 4: negative balance
        "8 916 555 01 01,Anna again,1,,\n"  # row 5: row 2's phone
        "+79165550105,Gleb,12.5,,\n"  # row 6: not whole points
        "+79165550106,Dana,,,31.02.1990\n"  # row 7: no such date
        ",Nobody,5,,\n"  # row 8: no phone
        "+79165550108,Egor,7,,01.01.2030\n"  # row 9: born in the future
        "+79165550109,,-1,,32.01.1990\n"  # row 10: two problems, both reported
    )
    before = await app.counts(include_audit=True)
    for apply in (False, True):
        report = await run_import(app.biz, _table(text), apply=apply)
        assert [(p.row, p.code) for p in report.problems] == [
            (1, "import_unknown_columns"),
            (3, "bad_phone"),
            (4, "import_negative_balance"),
            (5, "import_duplicate_phone"),
            (6, "import_bad_balance"),
            (7, "birthday_impossible"),
            (8, "import_no_phone"),
            (9, "birthday_future"),
            (10, "birthday_impossible"),
            (10, "import_negative_balance"),
        ]
        assert report.problems[0].params == {  # issue 20: the known columns are named
            "columns": ["colour"], "known": ["phone", "name", "birthday", "balance", "make", "year"]
        }  # fmt: skip
        assert report.problems[3].params == {"first_row": 2}
        assert not report.applied
    assert await app.counts(include_audit=True) == before, "all or nothing"


def test_columns_checked_before_rows() -> None:
    settings = make_settings("sqlite+aiosqlite:///unused.db", profile={"fields": FIELDS})
    for text, expected in (
        ("name,balance\nAnna,1\n", [(1, "import_no_phone_column")]),
        ("phone,PHONE\n+79165550101,+79165550102\n", [(1, "import_repeated_column")]),
        ("phone,,x\n+79165550101,,1\n", [(1, "import_unknown_columns")]),
        ("phone,year\n+79165550101,1900\n", [(2, "profile_out_of_range")]),
        ("phone,balance\n+79165550101,9999999999\n", [(2, "import_bad_balance")]),
        ("phone,name\n+79165550101,\x07bell\n", [(2, "bad_name")]),
    ):
        entries, problems = check(_table(text), settings, TODAY)
        assert [(p.row, p.code) for p in problems] == expected, text
    entries, problems = check(_table("phone,,\n+79165550101,,\n"), settings, TODAY)
    assert problems == [] and len(entries) == 1, "empty trailing columns are not columns"


def test_xlsx_formula_without_a_computed_value_is_refused() -> None:
    """Issue 19, item 10: a script-written XLSX keeps formulas with no cached value; read
    as blank, a balance would silently become 0."""
    book = Workbook()
    book.active.append(["phone", "name", "balance"])
    book.active.append(["+79165550101", "Anna", "=100+200"])
    data = io.BytesIO()
    book.save(data)
    with pytest.raises(spreadsheet.SpreadsheetError, match="row 2, column 3: a formula"):
        spreadsheet.read(data.getvalue(), "xlsx")


async def test_xlsx_cells_as_a_spreadsheet_program_stores_them(app: App) -> None:
    """Numbers as numbers (a phone, 150.0 points), a birthday as a date, text starting
    with "+" as text; a first empty row does not shift the row numbers."""
    book = Workbook()
    sheet = book.active
    sheet.append([None])
    sheet.append(["phone", "name", "birthday", "balance", "year"])
    sheet.append([79165550101, "+Anna", datetime(1990, 12, 31), 150.0, 2019])
    sheet.append([79165550102, "Boris", None, 2.5, None])
    data = io.BytesIO()
    book.save(data)
    table = spreadsheet.read(data.getvalue(), "xlsx")
    report = await run_import(app.biz, table, apply=True)
    assert [(p.row, p.code) for p in report.problems] == [(4, "import_bad_balance")]
    table.rows.pop()
    report = await run_import(app.biz, table, apply=True)
    assert report.created == 1
    anna = await app.customer(phone="+79165550101")
    assert anna is not None
    assert (anna.name, anna.birthday, anna.balance) == ("+Anna", date(1990, 12, 31), 150)
    assert anna.profile == {"year": 2019}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_imported_customer_joins_and_finds_the_balance(app: App) -> None:
    """Import, then the customer shares that phone in the bot: the imported card is
    linked (not a second customer) and /balance and /history show the opening balance
    (plus the welcome bonus, as for a customer staff entered at the counter)."""
    await run_import(app.biz, _table(GOOD_CSV), apply=True)
    imported = await app.customer(phone="+79165550101")
    assert imported is not None
    user = app.user(5001, "en")
    joined = await join(app, user, name="Anna P.", phone="+79165550101")
    assert joined.id == imported.id and joined.card_code == imported.card_code
    assert joined.telegram_id == 5001 and joined.balance == 300 + 50
    assert len(await _imported(app)) == 3

    await user.send("/balance")
    assert "350" in str(app.fake.last(5001).result["text"])
    await user.send("/history")
    history = str(app.fake.last(5001).result["text"])
    assert "+300 · opening balance" in history and "+50 · bonus" in history
    assert await app.balance_consistent()


async def test_existing_customer_gets_the_opening_balance_once(app: App) -> None:
    """Someone who joined before the import keeps their own answers and gets the balance
    of the old base once."""
    ivan = await join(app, app.user(5001, "en"), name="Ivan", phone="+79165550101")
    text = "phone,name,balance\n+79165550101,Иван Старый,200\n"
    report = await run_import(app.biz, _table(text), apply=True)
    assert (report.created, report.credited, report.points) == (0, 1, 200)
    again = await run_import(app.biz, _table(text), apply=True)
    assert (again.credited, again.unchanged) == (0, 1)
    customer = await app.customer(id=ivan.id)
    assert customer is not None and (customer.name, customer.balance) == ("Ivan", 50 + 200)


async def test_forgotten_customer_is_not_brought_back(app: App) -> None:
    """After /forget, importing the old file again does not recreate the person: the
    opening balance's key (a salted hash, not the phone) is still in the ledger."""
    await run_import(app.biz, _table(GOOD_CSV), apply=True)
    user = app.user(5001, "en")
    await join(app, user, name="Anna", phone="+79165550101")
    await user.send("/forget")
    confirm = app.fake.last(5001)
    await user.click(find_button(confirm, "Yes, erase"), confirm)
    report = await run_import(app.biz, _table(GOOD_CSV), apply=True)
    assert (report.created, report.unchanged) == (0, 3)
    assert await app.customer(phone="+79165550101") is None


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_forgotten_customer_with_a_zero_opening_balance_is_not_brought_back(
    app: App,
) -> None:
    """Issue 19, item 12: a zero opening balance has no ledger key; the erase itself is
    recorded (a salted hash of the phone), so the old file does not recreate the person
    with phone, name and birthday."""
    await run_import(app.biz, _table(GOOD_CSV), apply=True)
    user = app.user(5002, "en")
    await join(app, user, name="Boris", phone="+79165550102")
    await user.send("/forget")
    confirm = app.fake.last(5002)
    await user.click(find_button(confirm, "Yes, erase"), confirm)
    report = await run_import(app.biz, _table(GOOD_CSV), apply=True)
    assert (report.created, report.unchanged) == (0, 3)
    assert await app.customer(phone="+79165550102") is None


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_concurrent_imports_on_postgresql_end_in_one_line(app: App) -> None:
    """Issue 19, item 11: the import that loses the race on the phones is a ServiceError
    (one line in the CLI), not a raw IntegrityError; the ledger stays right."""
    results = await asyncio.gather(
        *(run_import(app.biz, _table(GOOD_CSV), apply=True) for _ in range(2)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) < 2
    for err in errors:
        assert isinstance(err, ServiceError) and err.code == "import_concurrent", repr(err)
        line = app.biz.texts.console("en", f"errors.{err.code}")
        assert "run this one again" in line and "\n" not in line
    assert len(await _imported(app)) == 3
    assert await app.balance_consistent()


async def test_ledger_kind_import_is_labelled_in_both_languages(app: App) -> None:
    for locale, label in (("en", "opening balance"), ("ru", "перенос баланса")):
        history = app.biz.texts.render(
            locale,
            "customer.history",
            h={"page": 0, "pages": 1, "lines": [_Line()]},
        )
        assert f"+300 · {label}" in history, history


class _Line:
    at = datetime(2026, 1, 15, tzinfo=UTC)
    points = 300
    kind = LedgerKind.IMPORT
    purchase_id = None


def _cli_config(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "loyalty.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[business]\nname = "Garage"\n[database]\nurl = "sqlite+aiosqlite:///{db}"\n'
        '[[profile.fields]]\ncode = "make"\nlabels = { ru = "Марка", en = "Make" }\n',
        encoding="utf-8",
    )
    upgrade(f"sqlite+aiosqlite:///{db}")
    return config, db


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_cli_dry_run_apply_and_problems(tmp_path: Path) -> None:
    config, db = _cli_config(tmp_path)
    good = tmp_path / "base.csv"
    good.write_text(
        "phone,name,balance,make\n+79165550101,Anna,300,LADA\n+79165550102,Boris,,\n",
        encoding="cp1251",
    )
    runner = CliRunner()
    dry = runner.invoke(cli, ["import", str(good), "-c", str(config)])
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing written: 2 rows: 2 new customers" in dry.output
    assert "300 points in all" in dry.output
    assert _count(db, "SELECT count(*) FROM customers") == 0

    applied = runner.invoke(cli, ["import", str(good), "-c", str(config), "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "imported 2 rows: 2 new customers" in applied.output
    assert _count(db, "SELECT sum(points) FROM ledger_entries WHERE kind = 'import'") == 300
    again = runner.invoke(cli, ["import", str(good), "-c", str(config), "--apply"])
    assert "0 new customers" in again.output and "2 unchanged" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "phone,name,balance,city\n+79165550103,Vera,-1,Omsk\n+79165550103,Vera,1,\n",
        encoding="utf-8",
    )
    refused = runner.invoke(cli, ["import", str(bad), "-c", str(config), "--apply"])
    assert refused.exit_code == 1
    assert "row 1: unknown column(s): city" in refused.output
    # issue 20: a row's problem names its column and the cell
    assert "row 2, column «balance» «-1»: the balance «-1» is negative" in refused.output
    assert "row 3, column «phone» «+79165550103»: the same phone number as row 2" in refused.output
    assert "3 problem(s) in 2 rows: nothing imported" in refused.output
    assert _count(db, "SELECT count(*) FROM customers") == 2

    for args, message in (
        (["import", str(tmp_path / "base.txt"), "-c", str(config)], "use a .csv or .xlsx"),
        (["import", str(tmp_path / "missing.csv"), "-c", str(config)], "cannot read"),
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2 and message in result.output, result.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    result = runner.invoke(cli, ["import", str(broken), "-c", str(config)])
    assert result.exit_code == 2 and "not a readable XLSX file" in result.output


def test_spreadsheet_round_trip_keeps_hostile_text() -> None:
    """What the export writes, the reader reads back as it was: formulas escaped in CSV,
    typed as text in XLSX."""
    hostile = ["=1+2", "+7916", "-5", "@SUM(A1)", "\tx", "'quoted", "plain", 'Ёлка;,"x"']
    table = spreadsheet.Table(header=["v"], rows=[[v] for v in hostile])
    for fmt in spreadsheet.FORMATS:
        back = spreadsheet.read(spreadsheet.write(table, fmt), fmt)
        assert [spreadsheet.cell_text(r[0]) for r in back.rows] == [v.strip() for v in hostile], fmt
    raw_csv = spreadsheet.write(table, "csv").decode("utf-8-sig").splitlines()
    assert raw_csv[1:5] == ["'=1+2", "'+7916", "'-5", "'@SUM(A1)"]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_base_larger_than_a_batch(app: App) -> None:
    """1,200 rows: three batches, a progress report after each, every row written once."""
    lines = ["phone,balance"] + [f"+7916{2000000 + n},{n % 7}" for n in range(1200)]
    reports: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        reports.append((done, total))

    result = await run_import(app.biz, _table("\n".join(lines)), apply=True, progress=progress)
    assert reports == [(500, 1200), (1000, 1200), (1200, 1200)]
    assert (result.created, result.points) == (1200, sum(n % 7 for n in range(1200)))
    async with app.biz.db.read() as session:
        codes = list(await session.scalars(select(Customer.card_code)))
    assert len(codes) == len(set(codes)) == 1200
    assert await app.balance_consistent()
    again = await run_import(app.biz, _table("\n".join(lines)), apply=False)
    assert (again.created, again.unchanged) == (0, 1200)

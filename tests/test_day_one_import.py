"""Issue 20, items 3 and 4: a real Russian spreadsheet imports; errors name row, column and
value; the dry run lists the columns it read; the bot's own export imports as a no-op; and
a customer brought in by the import keeps the card's data when joining in the bot, which
asks only what is missing (import -> join -> export)."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot import spreadsheet
from bot.cli import app as cli
from bot.config import Settings, settings_from_dict
from bot.db.migrate import upgrade
from bot.db.models import LedgerEntry
from bot.services.members.customer_export import customer_table
from bot.services.members.customer_import import run_import
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS, base_config
from tests.support.harness import App

ON_BOTH = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

RUSSIAN_BASE = (
    "Телефон;Имя;День рождения;Баланс;Марка;Пробег, км\n"
    "+7 916 555-01-01;Пётр;12.04.1980;172;Kia;85000\n"
    "+7 916 555-01-02;Ольга;;0;;\n"
)
LABELS = {
    "phone": ["Телефон", "Phone"],
    "name": ["Имя", "Name"],
    "birthday": ["День рождения", "Birthday"],
    "balance": ["Баланс", "Balance"],
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    """A Russian car service as `make run` configures it (make, model, year, mileage)."""
    config = base_config(db_url, business={"kind": "car_service", "default_language": "ru"})
    del config["loyalty"]["service_tags"]
    return settings_from_dict(config, use_env=False)


def _table(text: str) -> spreadsheet.Table:
    return spreadsheet.read(text.encode(), "csv")


async def _ledger(app: App) -> tuple[int, int]:
    async with app.biz.db.read() as session:
        count = await session.scalar(select(func.count()).select_from(LedgerEntry))
        total = await session.scalar(select(func.coalesce(func.sum(LedgerEntry.points), 0)))
    return int(count or 0), int(total or 0)


@ON_BOTH
async def test_russian_headers_are_read(app: App) -> None:
    """Headers `Телефон, Имя, День рождения, Баланс` gave `unknown column(s)`."""
    report = await run_import(app.biz, _table(RUSSIAN_BASE), apply=True, labels=LABELS)
    assert report.problems == []
    assert report.columns == [
        ("Телефон", "phone"), ("Имя", "name"), ("День рождения", "birthday"),
        ("Баланс", "balance"), ("Марка", "make"), ("Пробег, км", "mileage"),
    ]  # fmt: skip
    peter = await app.customer(phone="+79165550101")
    assert peter is not None
    assert (peter.name, peter.birthday, peter.balance) == ("Пётр", date(1980, 4, 12), 172)
    assert peter.profile == {"make": "Kia", "mileage": 85000}


@ON_BOTH
async def test_import_join_export_keeps_the_card(app: App) -> None:
    """Imported with birthday 12.04.1980, make Kia, mileage 85000; joining asked
    everything again, he pressed Skip, and the export lost birthday, make and mileage."""
    await run_import(app.biz, _table(RUSSIAN_BASE), apply=True, labels=LABELS)
    peter = app.user(5001, "ru", "Пётр")
    await peter.send("/start")
    consent = app.fake.last(5001)
    await peter.click(buttons(consent)[0][1], consent)
    await peter.send_contact("+79165550101")
    asked = [app.fake.last(5001).text]
    while (await app.customer(telegram_id=5001)).signup_step not in (None, "offers"):  # type: ignore[union-attr]
        question = app.fake.last(5001)
        await peter.click(buttons(question)[-1][1], question)  # Skip what is missing
        asked.append(app.fake.last(5001).text)
    assert "Модель" in asked[0] and "Год выпуска" in asked[1], asked
    assert not any(word in " ".join(asked) for word in ("имя", "день рождения", "Марка", "Пробег"))
    offers = app.fake.last(5001)
    await peter.click(find_button(offers, "Да, присылать"), offers)
    card = await app.customer(telegram_id=5001)
    assert card is not None and card.signup_step is None
    assert (card.name, card.birthday, card.balance) == ("Пётр", date(1980, 4, 12), 172)

    table = await customer_table(app.biz)
    cells = next(r for r in table.rows if r[0] == card.card_code)
    row = dict(zip(table.header, cells, strict=True))
    assert (row["birthday"], row["make"], row["mileage"]) == (date(1980, 4, 12), "Kia", 85000)
    assert (row["balance"], row["marketing_opt_in"], row["in_telegram"]) == (172, True, True)


@ON_BOTH
async def test_the_export_imported_again_changes_nothing(app: App) -> None:
    """Re-importing the bot's own export would credit opening balances again for customers
    who joined since."""
    await run_import(app.biz, _table(RUSSIAN_BASE), apply=True, labels=LABELS)
    peter = app.user(5001, "ru", "Пётр")
    await peter.send("/start")
    consent = app.fake.last(5001)
    await peter.click(buttons(consent)[0][1], consent)
    await peter.send_contact("+79165550101")
    before = await _ledger(app)
    for fmt in ("csv", "xlsx"):
        exported = spreadsheet.read(spreadsheet.write(await customer_table(app.biz), fmt), fmt)
        report = await run_import(app.biz, exported, apply=True, labels=LABELS)
        assert report.problems == [], report.problems
        assert (report.created, report.credited, report.points) == (0, 0, 0)
        assert report.unchanged == 2
        assert await _ledger(app) == before


def _cli_config(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "loyalty.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[business]\nname = "Гараж"\nkind = "car_service"\ndefault_language = "ru"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n',
        encoding="utf-8",
    )
    upgrade(f"sqlite+aiosqlite:///{db}")
    return config, db


def _cli(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_lists_columns_and_names_row_column_value(tmp_path: Path) -> None:
    """`row 5: This phone number is not valid.` named neither column nor value; the
    profile fields' codes were never named."""
    config, db = _cli_config(tmp_path)
    base = tmp_path / "база.csv"
    base.write_text(RUSSIAN_BASE, encoding="cp1251")
    dry = _cli("import", base, "-c", config)
    assert dry.exit_code == 0, dry.output
    assert (
        "columns: Телефон → phone, Имя → name, День рождения → birthday, Баланс → balance, "
        "Марка → make, Пробег, км → mileage" in dry.output
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Телефон;Имя;Баланс;Город\n+79165550103;Вера;1;Омск\n12345;Борис;5;\n"
        "+79165550104;Гоша;-3;\n",
        encoding="utf-8",
    )
    refused = _cli("import", bad, "-c", config, "--apply")
    assert refused.exit_code == 1
    assert "row 1: unknown column(s): Город (known: phone, name, birthday, balance, make, model, year, mileage" in refused.output  # noqa: E501
    assert "row 3, column «Телефон» «12345»: This phone number is not valid." in refused.output
    assert "row 4, column «Баланс» «-3»: the balance «-3» is negative" in refused.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0

"""Issue 12, export: the owner's /export sends every customer as CSV and XLSX documents
(balance, tier, profile fields, scores), through aiogram and the Bot API double;
`loyalty-bot export` writes the same table to a file only its owner can read. Customers
who used /forget are rows without personal data; a name a spreadsheet would run as a
formula stays text in both formats."""

from __future__ import annotations

import csv
import io
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.db.models import Customer
from bot.services.members.customer_export import SCORE_COLUMNS
from bot.testing.telegram_double import Call, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

FIELDS: list[dict[str, Any]] = [
    {"code": "make", "labels": {"ru": "Марка", "en": "Make"}},
    {"code": "model", "labels": {"ru": "Модель", "en": "Model"}},
    {"code": "year", "kind": "year", "labels": {"ru": "Год", "en": "Year"}, "min": 1950},
]
FORMULA_NAME = '=HYPERLINK("http://x","y")'
OWNER = 1000


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, profile={"fields": FIELDS})


def _documents(app: App) -> list[Call]:
    return [c for c in app.fake.calls("sendDocument") if c.ok]


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> tuple[list[str], list[dict[str, Any]], list[Any]]:
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return header, [dict(zip(header, (c.value for c in r), strict=True)) for r in rows[1:]], rows


async def _world(app: App) -> dict[str, Customer]:
    """Ivan (a formula as his name, a car, a purchase), Anna (erased by /forget after a
    purchase), Petr (a purchase, scored); everyone scored by /rescore."""
    ivan = await join(app, app.user(5001, "en"), name=FORMULA_NAME, phone="+79165550101")
    anna = await join(app, app.user(5002, "en"), name="Anna", phone="+79165550102")
    petr = await join(app, app.user(5003, "en"), name="Petr", phone="+79165550103")
    async with app.biz.db.write() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == ivan.id)
            .values(profile={"make": "LADA", "model": "-Vesta", "year": 2020})
        )
    for customer, amount in ((ivan, "1000"), (anna, "400"), (petr, "2000")):
        await app.owner.send(f"/purchase {customer.card_code} {amount}")
    app.clock.advance(timedelta(days=1))
    await app.owner.send("/rescore")
    await app.dp["background"].wait()
    forget = app.user(5002, "en")
    await forget.send("/forget")
    confirm = app.fake.last(5002)
    await forget.click(find_button(confirm, "Yes, erase"), confirm)
    return {"ivan": ivan, "anna": anna, "petr": petr}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_export_sends_csv_and_xlsx(app: App) -> None:
    people = await _world(app)
    before, start = len(_documents(app)), len(app.fake.requests)
    await app.owner.send("/export")
    await app.dp["background"].wait()
    to_owner = [c for c in app.fake.requests[start:] if c.chat_id == OWNER]
    assert [c.method for c in to_owner] == [
        "sendMessage",
        "editMessageText",
        "sendDocument",
        "sendDocument",
    ]
    assert to_owner[0].text == "Preparing the customer export…"
    assert to_owner[1].text == "Preparing the customer export… 3 of 3"
    documents = _documents(app)[before:]
    assert [d.params["document"]["filename"].rsplit(".", 1)[1] for d in documents] == [
        "csv",
        "xlsx",
    ]
    assert all(d.chat_id == OWNER for d in documents)
    assert "3 customers with balances" in str(documents[0].text)

    rows = _csv_rows(documents[0].uploads["document"])
    by_card = {r["card_code"]: r for r in rows}
    ivan = by_card[people["ivan"].card_code]
    assert ivan["name"] == "'" + FORMULA_NAME, "CSV: a formula is escaped as text"
    assert ivan["phone"] == "'+79165550101", "CSV: a leading + is escaped too"
    assert (ivan["make"], ivan["model"], ivan["year"]) == ("LADA", "'-Vesta", "2020")
    assert ivan["balance"] == "50" and ivan["balance_value"] == "50.00"  # 5 % of 1000
    assert ivan["tier"] == "base" and ivan["in_telegram"] == "true" and ivan["erased"] == "false"
    assert ivan["purchases"] == "1" and ivan["total_spend"] == "1000.00"
    assert ivan["segment"] and ivan["lifecycle"] and ivan["scored_at"]

    header, xrows, raw = _xlsx_rows(documents[1].uploads["document"])
    assert header == list(rows[0].keys())
    assert header[-len(SCORE_COLUMNS) :] == list(SCORE_COLUMNS)
    x = {r["card_code"]: r for r in xrows}
    xivan = x[people["ivan"].card_code]
    assert xivan["name"] == FORMULA_NAME and xivan["phone"] == "+79165550101"
    assert xivan["balance"] == 50 and xivan["year"] == 2020
    name_cell = raw[1 + [r["card_code"] for r in xrows].index(people["ivan"].card_code)][
        header.index("name")
    ]
    assert name_cell.data_type == "s", "XLSX: stored as text, never as a formula"

    # Anna used /forget: her points and purchase stay in the books, her data does not.
    erased = [r for r in rows if r["erased"] == "true"]
    assert len(erased) == 1
    assert erased[0]["phone"] == erased[0]["name"] == erased[0]["make"] == ""
    assert erased[0]["balance"] == "20" and erased[0]["in_telegram"] == "false"
    assert "Anna" not in documents[0].uploads["document"].decode("utf-8-sig")
    assert "+79165550102" not in str(xrows)


async def test_export_one_format_and_usage(app: App) -> None:
    await join(app, app.user(5001, "en"), name="Ivan")
    before = await app.counts()
    for bad in ("/export pdf", "/export csv xlsx", "/export " + "x" * 300):
        await app.owner.send(bad)
        assert "Write: <code>/export</code>" in str(app.fake.last(OWNER).text), bad
    await app.dp["background"].wait()
    assert _documents(app) == []
    assert await app.counts() == before

    await app.owner.send("/export XLSX")
    await app.dp["background"].wait()
    documents = _documents(app)
    assert [d.params["document"]["filename"][-5:] for d in documents] == [".xlsx"]
    _, rows, _ = _xlsx_rows(documents[0].uploads["document"])
    assert [r["name"] for r in rows] == ["Ivan"]


async def test_empty_base_exports_a_header(app: App) -> None:
    await app.owner.send("/export csv")
    await app.dp["background"].wait()
    (document,) = _documents(app)
    assert _csv_rows(document.uploads["document"]) == []
    assert "0 customers" in str(document.text)


async def test_export_refused_for_staff_and_customers(app: App) -> None:
    """Nothing is sent (no document, no progress message) and nothing written."""
    await join(app, app.user(5001, "en"), name="Ivan")
    await hire(app, app.user(6001, "en"))
    before = await app.counts()
    for who in (5001, 6001, 7001):
        await app.user(who, "en").send("/export")
        assert "not available" in app.fake.last(who).text
        await app.user(who, "en").send("/export csv")
        assert "not available" in app.fake.last(who).text
    await app.dp["background"].wait()
    assert _documents(app) == []
    assert not [c for c in app.fake.calls("editMessageText") if c.chat_id in (5001, 6001, 7001)]
    assert await app.counts() == before


def _config(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "loyalty.db"
    config = tmp_path / "config.toml"
    url = f"sqlite+aiosqlite:///{db}"
    config.write_text(
        f'[business]\nname = "Garage"\n[database]\nurl = "{url}"\n'
        '[[profile.fields]]\ncode = "make"\nlabels = { ru = "Марка", en = "Make" }\n',
        encoding="utf-8",
    )
    upgrade(url)
    return config, url


def test_cli_export_writes_a_private_file(tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    source = tmp_path / "base.csv"
    source.write_text("phone,name,balance,make\n+79165550101,=1+2,120,LADA\n", encoding="utf-8")
    imported = CliRunner().invoke(cli, ["import", str(source), "-c", str(config), "--apply"])
    assert imported.exit_code == 0, imported.output

    out = tmp_path / "out.xlsx"
    result = CliRunner().invoke(cli, ["export", "-c", str(config), "-f", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"exported 1 customer to {out}" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "personal data: owner-only"
    _, rows, raw = _xlsx_rows(out.read_bytes())
    assert [(r["phone"], r["name"], r["balance"], r["make"]) for r in rows] == [
        ("+79165550101", "=1+2", 120, "LADA")
    ]
    assert raw[1][2].data_type == "s"

    csv_out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["export", "-c", str(config), "-o", str(csv_out)])
    assert result.exit_code == 0, result.output
    (row,) = _csv_rows(csv_out.read_bytes())
    assert (row["name"], row["phone"], row["balance"]) == ("'=1+2", "'+79165550101", "120")

    bad = CliRunner().invoke(cli, ["export", "-c", str(config), "-f", "pdf"])
    assert bad.exit_code == 2 and "use csv or xlsx" in bad.output


def test_export_columns_follow_the_profile_config() -> None:
    """The profile columns follow the config (a café declares none)."""
    from bot.services.members.customer_export import CUSTOMER_COLUMNS, header

    cafe = make_settings("sqlite+aiosqlite:///unused.db")
    assert header(cafe) == [*CUSTOMER_COLUMNS, *SCORE_COLUMNS]
    cars = make_settings("sqlite+aiosqlite:///unused.db", profile={"fields": FIELDS})
    assert header(cars)[len(CUSTOMER_COLUMNS) : len(CUSTOMER_COLUMNS) + 3] == [
        "make",
        "model",
        "year",
    ]

"""``loyalty-bot backup`` / ``restore`` (bot/backup.py): a backup taken while the bot runs
brings the books back exactly as they were, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.backup import BackupError, backup, restore
from bot.db.models import Customer, LedgerEntry
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App


async def _books(app: App) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    async with app.biz.db.read() as session:
        balances = (await session.execute(select(Customer.id, Customer.balance))).all()
        entries = (await session.execute(select(LedgerEntry.id, LedgerEntry.points))).all()
    return sorted(map(tuple, balances)), sorted(map(tuple, entries))  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_backup_then_restore_brings_the_books_back(app: App, tmp_path: Path) -> None:
    customer = await join(app, app.user(5001, "en"))
    cashier = app.user(6001, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 1000")
    saved = await _books(app)
    url = app.biz.settings.database.url
    target = backup(url, tmp_path / "loyalty.backup")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600, "personal data: owner only"

    await cashier.send(f"/purchase {customer.card_code} 2500")  # after the backup
    assert await _books(app) != saved
    await app.biz.db.engine.dispose()  # the bot is stopped for a restore
    restore(url, target)
    assert await _books(app) == saved
    assert await app.balance_consistent()


def test_missing_backup_or_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no backup at"):
        restore(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path / "none.backup")
    with pytest.raises(BackupError, match="no SQLite database"):
        backup(f"sqlite+aiosqlite:///{tmp_path}/missing.db", tmp_path / "b.backup")
    assert list(tmp_path.iterdir()) == [], "a failed backup leaves no file behind"


async def test_restore_refuses_what_is_not_a_backup(app: App, tmp_path: Path) -> None:
    """An empty file, a foreign file or another SQLite database never replaces the books;
    nor does a backup written over the database itself."""
    url = app.biz.settings.database.url  # the default backend: a SQLite file
    before = await _books(app)
    empty, text, foreign = tmp_path / "empty", tmp_path / "notes.txt", tmp_path / "other.db"
    empty.write_bytes(b"")
    text.write_text("hello", encoding="utf-8")
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    for bad in (empty, text, foreign):
        with pytest.raises(BackupError, match="not a"):
            restore(url, bad)
    database = Path(url.split("///", 1)[1])
    with pytest.raises(BackupError, match="the database itself"):
        backup(url, database)
    assert await _books(app) == before


def _corrupt(path: Path, first_page: int, pages: int) -> None:
    """Overwrite ``pages`` pages of a SQLite file from ``first_page`` (0 = the header page)."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as raw:
        raw.seek(first_page * page_size)
        raw.write(b"\xa5" * page_size * pages)


async def _backup_with_data(app: App, tmp_path: Path) -> tuple[str, Path]:
    customer = await join(app, app.user(5002, "en"))
    cashier = app.user(6002, "en")
    await hire(app, cashier)
    for amount in (1000, 2000, 3000):
        await cashier.send(f"/purchase {customer.card_code} {amount}")
    url = app.biz.settings.database.url
    return url, backup(url, tmp_path / "tail.backup")


@pytest.mark.parametrize(("first_page", "pages"), [(3, 7), (1, 1)])
async def test_a_damaged_backup_is_refused_and_the_live_database_untouched(
    app: App, tmp_path: Path, first_page: int, pages: int
) -> None:
    """Issue 19, item 7: seven data pages overwritten (or the schema page) -> one line,
    nothing restored: the live file stays byte-identical."""
    url, target = await _backup_with_data(app, tmp_path)
    _corrupt(target, first_page, pages)
    await app.biz.db.engine.dispose()  # the bot is stopped for a restore
    database = Path(url.split("///", 1)[1])
    live_before = database.read_bytes()
    with pytest.raises(BackupError, match="damaged") as refused:
        restore(url, target)
    assert "\n" not in str(refused.value)
    assert database.read_bytes() == live_before
    assert await app.balance_consistent()


async def test_a_backup_of_an_unknown_schema_is_refused(app: App, tmp_path: Path) -> None:
    url, target = await _backup_with_data(app, tmp_path)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    await app.biz.db.engine.dispose()
    database = Path(url.split("///", 1)[1])
    live_before = database.read_bytes()
    with pytest.raises(BackupError, match=r"9999_from_the_future.*does not know"):
        restore(url, target)
    assert database.read_bytes() == live_before

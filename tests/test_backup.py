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

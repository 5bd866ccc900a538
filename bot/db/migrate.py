"""Schema changes only through Alembic; the app refuses to run on an unmigrated database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.db.engine import Database, ensure_sqlite_file

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaNotCurrentError(RuntimeError):
    """The database is missing migrations; the message says how to fix it."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations found"
    return head


def known_revisions() -> frozenset[str]:
    """Every schema revision this code's migrations know (a backup at one of them can be
    restored and migrated forward)."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.revision for script in scripts.walk_revisions())


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (synchronous: call from the CLI or a worker thread)."""
    ensure_sqlite_file(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current)


async def check_schema(db: Database) -> None:
    current = await current_revision(db)
    head = head_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `loyalty-bot migrate` (or `make migrate`)"
        )

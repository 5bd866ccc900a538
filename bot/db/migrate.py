"""Schema changes only through Alembic; the app refuses to run on an unmigrated database."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.engine import Database, DatabaseProblem, ensure_sqlite_file

if TYPE_CHECKING:  # Alembic (and Mako) load for migrations, not with every start
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# A migration's file is named after its revision: 0018_owners_and_conversations.py is 0018,
# and each revises the one before (tests/test_migrations.py checks both against Alembic).
REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


class SchemaNotCurrentError(DatabaseProblem):
    """The database is missing migrations; the message says how to fix it."""


class DatabaseUnreachableError(DatabaseProblem):
    """The database server did not answer (or refused us); the message names it."""


def where(url: str) -> str:
    """The database as a person names it: host, port and name, or the file; no password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _reason(err: BaseException) -> str:
    cause = getattr(err, "orig", None) or err
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return text[:200]


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """Turn "cannot connect" (refused, unknown host, timeout, bad password, no such
    database) into one line that names the database and says what to check."""
    try:
        yield
    except (OSError, DBAPIError, InterfaceError) as err:
        if isinstance(err, DBAPIError) and not err.connection_invalidated and _is_query(err):
            raise
        raise DatabaseUnreachableError(
            f"cannot reach the database {where(url)} ({_reason(err)}): check database.url "
            "(or DATABASE_URL) and that the database server is running"
        ) from None


def _is_query(err: DBAPIError) -> bool:
    """A statement that failed on a live connection is a bug to report, not a connection
    problem: only errors raised while connecting have no statement."""
    return err.statement is not None


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration's revision: the highest-numbered file (see ``REVISION_FILE``),
    read without importing Alembic, so that the bot's start-up check stays light."""
    versions = (MIGRATIONS / "versions").iterdir()
    numbers = [match.group(1) for path in versions if (match := REVISION_FILE.match(path.name))]
    assert numbers, "no migrations found"
    return max(numbers)


def known_revisions() -> frozenset[str]:
    """Every schema revision this code's migrations know (a backup at one of them can be
    restored and migrated forward)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.revision for script in scripts.walk_revisions())


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations (synchronous: call from the CLI or a worker thread); return the
    revision before and after."""
    from alembic import command

    ensure_sqlite_file(url)
    with reaching(url):
        before = _current_sync(url)
        command.upgrade(alembic_config(url), revision)
        return before, _current_sync(url)


def _current_sync(url: str) -> str | None:
    async def read() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_current)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def _current(connection: Connection) -> str | None:
    """The revision the database is at: Alembic's own one-row table, read with a plain
    query (no Alembic import, no log line); none before the first migration (or after
    downgrading to base, which leaves the table empty)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


async def current_revision(db: Database) -> str | None:
    with reaching(db.engine.url.render_as_string(hide_password=False)):
        async with db.engine.connect() as connection:
            return await connection.run_sync(_current)


async def check_schema(db: Database) -> None:
    current = await current_revision(db)
    head = head_revision()
    if current is None:
        raise SchemaNotCurrentError(
            f"the database {where(db.engine.url.render_as_string())} has no tables yet: "
            "run `loyalty-bot migrate` (or `make migrate`) first"
        )
    if current != head:
        raise SchemaNotCurrentError(
            f"database schema is at {current}, the code needs {head}: "
            "run `loyalty-bot migrate` (or `make migrate`)"
        )

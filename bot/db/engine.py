"""Engine and sessions, with SQLite made safe for concurrent writers.

SQLite: WAL, busy timeout and foreign keys on every new connection; the driver's own
transaction handling is switched off so that we emit ``BEGIN IMMEDIATE`` for write
sessions (a deferred transaction that reads then writes fails at once with SQLITE_BUSY
instead of waiting: see shared/ENGINEERING.md). SQLite has one writer at a time anyway,
so this process's write transactions queue on one asyncio lock (one writer per process,
in arrival order) instead of contending for the file lock, where SQLite's busy handler
sleeps in steps of up to 100 ms; the busy timeout remains for other processes (the CLI).
PostgreSQL: row locks (``FOR UPDATE``) in the services serialise balance changes.

``read_one`` runs a single statement outside a transaction (autocommit): one statement
is its own consistent snapshot, and it saves ``BEGIN``/``ROLLBACK`` on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.waiting import acquire_within

WRITE_OPTION = "loyalty_write"


def _install_sqlite_listeners(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(NO_BEGIN_OPTION, False):
            return  # read_one: a single statement, no transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION, False) else "BEGIN")


# read_one without a transaction: SQLite skips our BEGIN (the driver's own transaction
# handling is off already); PostgreSQL's driver skips its BEGIN in AUTOCOMMIT.
NO_BEGIN_OPTION = "loyalty_no_begin"
_NO_BEGIN = {"sqlite": {NO_BEGIN_OPTION: True}}
_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


class WriterQueue:
    """SQLite's one writer per process: write transactions take turns on an asyncio lock
    (one per event loop), waiting at most the busy timeout, as SQLite itself would."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        if not await acquire_within(lock, self.timeout_s):
            raise TimeoutError(f"no SQLite write turn within {self.timeout_s} s")
        try:
            yield
        finally:
            lock.release()


@dataclass
class Database:
    """The engine for the app's life, and session factories for reads and for writes."""

    engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    write_engine: AsyncEngine | None = None
    writers: WriterQueue | None = None  # SQLite only: one write transaction at a time
    _autocommit: AsyncEngine | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def serialises_writes(self) -> bool:
        """Whether a write transaction sees nothing another one commits meanwhile (SQLite:
        one writer at a time, from BEGIN IMMEDIATE on), so a value read with its first
        statement holds until it commits. PostgreSQL (read committed) gives each statement
        a new snapshot: what another transaction committed while this one waited for a row
        lock is seen only by the statements after the one that waited."""
        return self.is_sqlite

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        if self.writers is None:
            yield
            return
        async with self.writers.turn():
            yield

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on success, rolled back on any exception."""
        async with self._write_turn(), self.writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a Core connection (no ORM unit of work), for hot paths
        that run prebuilt statements; committed on success, rolled back on any exception."""
        engine = self.write_engine or self.engine
        async with self._write_turn(), engine.begin() as conn:
            yield conn

    async def read_one(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """The first row of one statement, run outside a transaction (autocommit)."""
        if self._autocommit is None:
            options = _NO_BEGIN.get(self.engine.dialect.name, _AUTOCOMMIT)
            self._autocommit = self.engine.execution_options(**options)
        async with self._autocommit.connect() as conn:
            return (await conn.execute(statement, params)).first()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.reader() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


# The database holds customers' personal data: readable and writable by the owner only.
SQLITE_FILE_MODE = 0o600


def ensure_sqlite_file(url: str) -> None:
    """Create a SQLite database's directory and empty file (owner-only) before SQLite does.

    SQLite creates a missing file with mode 0644 (less the umask), readable by every local
    user; it accepts an empty file as an empty database, and gives its -wal and -shm files
    the mode of the database file, so creating the file first covers all three.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE))


def create_database(url: str, *, busy_timeout_ms: int = 15000, pool_size: int = 10) -> Database:
    ensure_sqlite_file(url)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {} if is_sqlite else {"pool_size": pool_size, "max_overflow": 20}
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        _install_sqlite_listeners(engine, busy_timeout_ms)
    write_engine = engine.execution_options(**{WRITE_OPTION: True})
    return Database(
        engine=engine,
        reader=async_sessionmaker(engine, expire_on_commit=False),
        writer=async_sessionmaker(write_engine, expire_on_commit=False),
        write_engine=write_engine,
        writers=WriterQueue(busy_timeout_ms / 1000) if is_sqlite else None,
    )

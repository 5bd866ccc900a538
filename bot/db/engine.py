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

``run_write`` runs a hot path's whole write transaction as one synchronous function of a
Core ``Connection`` (a purchase, a redemption's confirmation). On a SQLite file it runs on
this process's writer thread, on that thread's one connection: one hand-off to a thread
per transaction instead of one or more per statement, and nothing of SQLAlchemy's async
adaptation (bench/RESULTS.md: a transaction of 8 statements costs 0.3 ms of CPU there
against 2 ms through the async engine). On PostgreSQL it is ``AsyncConnection.run_sync``
on a pooled connection: the same function, each statement still a round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config.runtime import DEFAULT_SQLITE_DIR
from bot.db.sqlite_driver import one_hop_dbapi
from bot.waiting import acquire_within

WRITE_OPTION = "loyalty_write"


class DatabaseProblem(RuntimeError):
    """The database cannot be used as configured; the message is one line saying what to
    do (the CLI prints it instead of a traceback)."""

T = TypeVar("T")


def _install_sqlite_listeners(sync_engine: Engine, busy_timeout_ms: int) -> None:
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


class SqliteWriter:
    """One thread with one connection for a SQLite file's hot write transactions."""

    def __init__(self, url: str, busy_timeout_ms: int) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        self.engine = create_engine(
            sync_url,
            pool_size=1,
            max_overflow=0,
            # disposed from the event loop's thread; used only on the writer thread
            connect_args={"check_same_thread": False},
        ).execution_options(**{WRITE_OPTION: True})
        _install_sqlite_listeners(self.engine, busy_timeout_ms)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return work(conn)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` in a transaction on the writer thread. A cancelled caller waits for it
        to end (commit or roll back) before letting go, so its write turn is not handed
        on while the transaction still holds SQLite's lock."""
        # In the caller's context, as asyncio.to_thread does: log lines keep the update id.
        call = functools.partial(contextvars.copy_context().run, self._transaction, work)
        done = asyncio.get_running_loop().run_in_executor(self._thread, call)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            await asyncio.wait([done])
            raise

    def dispose(self) -> None:
        self._thread.shutdown(wait=True)
        self.engine.dispose()


@dataclass
class Database:
    """The engine for the app's life, and session factories for reads and for writes."""

    engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    write_engine: AsyncEngine | None = None
    writers: WriterQueue | None = None  # SQLite only: one write transaction at a time
    sqlite_writer: SqliteWriter | None = None  # a SQLite file: run_write's thread
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

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """``work`` as one write transaction, in one call: committed when it returns,
        rolled back when it raises (the exception is raised here)."""
        if self.sqlite_writer is not None:
            async with self._write_turn():
                return await self.sqlite_writer.run(work)
        async with self.write_connection() as conn:
            return await conn.run_sync(work)

    def sync_engines(self) -> list[Engine]:
        """Every engine that sends statements (for listeners: counters, tests)."""
        engines = [self.engine.sync_engine]
        if self.sqlite_writer is not None:
            engines.append(self.sqlite_writer.engine)
        return engines

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
        if self.sqlite_writer is not None:
            await asyncio.to_thread(self.sqlite_writer.dispose)
        await self.engine.dispose()


# The database holds customers' personal data: readable and writable by the owner only.
SQLITE_FILE_MODE = 0o600


def _is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def ensure_sqlite_file(url: str) -> None:
    """Create a SQLite database's directory and empty file (owner-only) before SQLite does.

    SQLite creates a missing file with mode 0644 (less the umask), readable by every local
    user; it accepts an empty file as an empty database, and gives its -wal and -shm files
    the mode of the database file, so creating the file first covers all three.
    """
    if not _is_sqlite_file(url):
        return
    path = Path(str(make_url(url).database))
    if path.parent == Path(DEFAULT_SQLITE_DIR):
        path.parent.mkdir(exist_ok=True, mode=0o700)
    elif not path.parent.is_dir():
        raise DatabaseProblem(
            f"the database's directory {path.parent} does not exist: fix database.url "
            "(a typo?) or create the directory"
        )
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE))


def create_database(url: str, *, busy_timeout_ms: int = 15000, pool_size: int = 10) -> Database:
    ensure_sqlite_file(url)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 20}
    if is_sqlite:  # aiosqlite, in one thread hop per statement instead of three or four
        kwargs = {"module": one_hop_dbapi()}
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        _install_sqlite_listeners(engine.sync_engine, busy_timeout_ms)
    write_engine = engine.execution_options(**{WRITE_OPTION: True})
    return Database(
        engine=engine,
        reader=async_sessionmaker(engine, expire_on_commit=False),
        writer=async_sessionmaker(write_engine, expire_on_commit=False),
        write_engine=write_engine,
        writers=WriterQueue(busy_timeout_ms / 1000) if is_sqlite else None,
        sqlite_writer=SqliteWriter(url, busy_timeout_ms) if _is_sqlite_file(url) else None,
    )


"""SQLite through aiosqlite with one thread hop per statement.

SQLAlchemy's aiosqlite adapter makes four round trips to aiosqlite's thread for a
statement that returns rows (open a cursor, execute, fetch all, close) and three for one
that does not; each costs a queue put, a wake-up of the event loop through its self-pipe
and a greenlet switch, which together weigh more than SQLite's own work on a point
lookup or a small insert (bench/RESULTS.md: 0.44 ms per statement against 0.08 ms on a
sync connection). Here a statement is one function run on that thread: execute, read
the description, row count and last row id, fetch every row, close the cursor. Results
are buffered as the stock adapter buffers them (no server-side cursors on SQLite), and
errors are the same sqlite3 exceptions, translated by the same ``_handle_exception``.

Used by ``bot.db.engine.create_database`` through ``create_async_engine(module=...)``;
only the cursor and ``connect`` change, the dialect stays SQLAlchemy's aiosqlite one.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from threading import Thread
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

# What one statement leaves behind: description, row count, last row id, rows.
_Done = tuple[Any, int, int | None, list[Any]]


def _run(conn: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Done:
    """One statement on aiosqlite's thread, from cursor to closed cursor."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose ``execute`` is one call to aiosqlite's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No driver cursor is opened here: each execute opens and closes its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass  # rows are fetched whole, in the statement's own hop

    def _hop(self, many: bool, operation: Any, parameters: Any) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        try:
            done: _Done = await_(
                connection._execute(_run, connection._conn, many, operation, parameters)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, self._rowcount, self._lastrowid, rows = done
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._hop(False, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        self._hop(True, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        return None  # nothing open on the driver's side

    def close(self) -> None:
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DB-API shim, handing out ``OneHopConnection``s."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        thread = connection if isinstance(connection, Thread) else connection._thread
        thread.daemon = True  # as SQLAlchemy's shim: never keep the process alive
        return OneHopConnection(self, await_(connection))


def one_hop_dbapi() -> OneHopDBAPI:
    """The ``module`` to pass to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""
    return OneHopDBAPI(aiosqlite, sqlite3)

"""Exactly one active worker (scheduler and outbox sender) among several processes.

The lease is a lock the operating system or the database drops by itself when its holder
dies, so a standby never waits for a dead worker's lease to "expire":

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection of its
  own. A killed worker's connection closes and the server releases the lock; the holder
  checks its connection every ``check_seconds`` (a check that does not answer within that
  time counts as failed) and gives up the worker role when the check fails: the sender
  and any job in progress are cancelled. Between the server dropping a dead-looking
  connection and the holder's next check, two workers can overlap by at most
  ``check_seconds``; the outbox and the jobs are idempotent, so that costs duplicates
  only within the in-flight window.
- SQLite: an exclusive ``flock`` on ``<database file>.worker.lock``, released by the kernel
  when the holding process exits, however it exits.

A standby tries again every ``check_seconds``, so it takes over within that time after
the active worker is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.metrics import LEASE_HELD

log = logging.getLogger(__name__)

# pg advisory lock key: any 64-bit number unique to this purpose ("loyalty worker").
ADVISORY_KEY = 0x6C6F79616C747921


StopWork = Callable[[], Awaitable[None]]
WorkFactory = Callable[[], Awaitable[StopWork]]


class Lease(Protocol):
    async def try_acquire(self) -> bool: ...
    async def still_held(self) -> bool: ...
    async def release(self) -> None: ...


class PostgresLease:
    def __init__(self, engine: AsyncEngine, check_timeout: float, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.check_timeout = check_timeout  # a half-open connection must not hang the check
        self.key = key
        self._conn: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        conn = await self.engine.connect()
        try:
            got = bool(
                await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            )
            await conn.commit()
        except Exception:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:  # a session lock lives as long as its session: a live connection holds it
            async with asyncio.timeout(self.check_timeout):
                await self._conn.scalar(text("SELECT 1"))
                await self._conn.commit()
            return True
        except Exception:
            log.warning("worker lease check failed", exc_info=True)
            return False

    async def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(Exception):  # a dead connection has released it already
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await self._conn.commit()
        with contextlib.suppress(Exception):
            await self._conn.close()
        self._conn = None


class FileLease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)  # the holder's pid, so that a refused process can name it
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _lock_file(engine: AsyncEngine, role: str) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValueError("an in-memory SQLite database has no workers to share it")
    return Path(f"{database}.{role}.lock")


def lease_for(engine: AsyncEngine, check_seconds: float) -> Lease:
    """The lease that suits the database the workers share."""
    if engine.dialect.name == "postgresql":
        return PostgresLease(engine, check_timeout=check_seconds)
    return FileLease(_lock_file(engine, "worker"))


# A polling process holds this lock for its life: Telegram gives a bot's updates to one
# getUpdates caller at a time, so a second poller would end the first with a conflict.
POLLER_KEY = ADVISORY_KEY + 1
_KEYS = {"worker": ADVISORY_KEY, "poller": POLLER_KEY}


class LockHeld(Exception):
    """Another process holds the lock; the message names it (pid and lock file, or the
    PostgreSQL advisory lock)."""


async def take_poller_lock(engine: AsyncEngine, check_seconds: float) -> Lease:
    """The poller lock, held until released; ``LockHeld`` when another process has it."""
    if engine.dialect.name == "postgresql":
        lock: Lease = PostgresLease(engine, check_timeout=check_seconds, key=POLLER_KEY)
    else:
        lock = FileLease(_lock_file(engine, "poller"))
    if not await lock.try_acquire():
        raise LockHeld(await _holder(engine, "poller") or "the poller lock")
    return lock


def _file_lock_holder(path: Path) -> str | None:
    """"pid N holds <path>" when a process holds the lock file, else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip()
            return f"{'pid ' + pid if pid.isdigit() else 'another process'} holds {path}"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


async def bot_holding(engine: AsyncEngine) -> str | None:
    """Which of a bot's locks on this database another process holds (its worker lease or
    its poller lock), said for a person; None when no bot runs on it."""
    for role in _KEYS:
        holder = await _holder(engine, role)
        if holder is not None:
            return holder
    return None


_PG_HOLDER = text(
    "SELECT a.client_addr, a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
    "AND l.objsubid = 1"
)


async def _holder(engine: AsyncEngine, role: str) -> str | None:
    if engine.dialect.name != "postgresql":
        return _file_lock_holder(_lock_file(engine, role))
    key = _KEYS[role]
    async with engine.connect() as conn:
        if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await conn.commit()
            return None
        row = (await conn.execute(_PG_HOLDER, {"hi": key >> 32, "lo": key & 0xFFFFFFFF})).first()
        await conn.commit()
    who = f"a connection from {row[0] or 'this host'} (server pid {row[1]})" if row else "a process"
    return f"{who} holds the {role} lock (PostgreSQL advisory lock {key})"


async def hold_then_run(lease: Lease, start_work: WorkFactory, check_seconds: float) -> None:
    """Wait for the lease, run the worker while it is held, stand by again when it is lost.

    ``start_work`` starts the worker's tasks and returns a coroutine function that stops
    them.
    """
    standing_by = False
    while True:
        try:
            acquired = await lease.try_acquire()
        except Exception:  # the database briefly unreachable: stand by and try again
            log.warning("worker lease: could not ask for it", exc_info=True)
            acquired = False
        if not acquired:
            if not standing_by:
                log.info("worker lease held by another process: standing by")
                standing_by = True
            await asyncio.sleep(check_seconds)
            continue
        standing_by = False
        log.info("worker lease acquired: this process runs the scheduler and the sender")
        LEASE_HELD.set(1)
        stop = await start_work()
        try:
            while await lease.still_held():
                await asyncio.sleep(check_seconds)
            log.error("worker lease lost: standing by")
        finally:
            LEASE_HELD.set(0)
            await stop()
            await lease.release()

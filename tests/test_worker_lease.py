"""One active worker (bot/lease.py): the lease has one holder, is released when its holder
dies, and a standby worker process takes over the outbox after the active one is killed
with SIGKILL mid-delivery: nothing lost, duplicates only within the in-flight window."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import monotonic

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import build_business
from bot.config import load_settings
from bot.db.engine import Database
from bot.db.models import OutboxMessage, OutboxState
from bot.lease import FileLease, PostgresLease, hold_then_run, lease_for
from bot.services.context import Business
from bot.services.outbox.rows import enqueue, outbox_row
from bot.testing.telegram_double import BotAPIServer, FakeTelegram
from tests.conftest import BACKENDS
from tests.support.crash import BotProcess, write_config

CHATS = 20
MESSAGES = 120
CONCURRENCY = 4
CHECK_SECONDS = 0.5
TAKEOVER_LIMIT = 10.0  # lease check + start-up of the standby's sender, on a loaded machine


async def test_file_lease_has_one_holder(tmp_path: Path) -> None:
    first, second = FileLease(tmp_path / "w.lock"), FileLease(tmp_path / "w.lock")
    assert await first.try_acquire()
    assert not await second.try_acquire()
    assert await first.still_held()
    await first.release()
    assert await second.try_acquire()
    await second.release()


async def test_postgres_lease_is_released_when_its_holder_dies(postgres_session_url: str) -> None:
    engines = [create_async_engine(postgres_session_url) for _ in range(3)]
    active, standby = (PostgresLease(e, check_timeout=5) for e in engines[:2])
    try:
        assert await active.try_acquire()
        assert not await standby.try_acquire()
        assert await active.still_held()
        assert active._conn is not None
        pid = await active._conn.scalar(text("SELECT pg_backend_pid()"))
        await active._conn.commit()
        async with engines[2].connect() as admin:  # the holder's process dies
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await admin.commit()
        assert not await active.still_held()
        assert await standby.try_acquire()
    finally:
        await active.release()
        await standby.release()
        for engine in engines:
            await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_standby_worker_takes_over_after_sigkill(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    """``database``: an empty database (PostgreSQL is shared by the session, truncated)."""
    fake = FakeTelegram()
    fake.set_latency(0.02)  # a send takes a while: some are in flight at the kill
    async with BotAPIServer(fake) as server:
        config = write_config(
            tmp_path / "config.toml",
            business={"name": "Lease Garage", "owner_ids": [1000]},
            telegram={"api_server": server.url},
            database={"url": db_url},
            outbox={"concurrency": CONCURRENCY, "poll_seconds": 0.2, "rate_per_second": 1000,
                    "per_chat_per_second": 1000, "claim_lease_seconds": 5},
            worker={"lease_check_seconds": CHECK_SECONDS},
        )  # fmt: skip
        biz = build_business(load_settings(config, use_env=False))
        active = BotProcess(config, fake.token, tmp_path / "worker-a.log", "--role", "worker")
        standby = BotProcess(config, fake.token, tmp_path / "worker-b.log", "--role", "worker")
        try:
            async with biz.db.write() as session:
                for n in range(MESSAGES):
                    row = outbox_row(now=biz.clock.now(), chat_id=8000 + n % CHATS, text=f"m{n}")
                    enqueue(session, row)
            await active.start()
            await _wait(lambda: "worker lease acquired" in active.tail(), "A leads", active)
            await standby.start()
            await _wait(lambda: "standing by" in standby.tail(), "B stands by", standby)
            await _wait(lambda: len(fake.sent()) >= MESSAGES // 4, "A sends", active)
            active.kill()
            killed_at = monotonic()
            await _wait(lambda: "worker lease acquired" in standby.tail(), "B takes over", standby)
            takeover = monotonic() - killed_at
            await _wait_sent(biz, standby)
        finally:
            await active.stop()
            await standby.stop()
            await biz.db.dispose()
    delivered = Counter(call.text for call in fake.sent())
    assert set(delivered) == {f"m{n}" for n in range(MESSAGES)}, "a message was lost"
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= CONCURRENCY, f"{duplicates} duplicates beyond the in-flight window"
    assert takeover <= TAKEOVER_LIMIT, f"standby took over after {takeover:.1f}s"


async def _wait(
    check: Callable[[], bool], what: str, process: BotProcess, timeout: float = 30.0
) -> None:
    deadline = monotonic() + timeout
    while not check():
        process.check_alive()
        assert monotonic() < deadline, f"{what}: not within {timeout}s\n{process.tail()}"
        await asyncio.sleep(0.05)


async def _wait_sent(biz: Business, process: BotProcess, timeout: float = 60.0) -> None:
    deadline = monotonic() + timeout
    while True:
        async with biz.db.read() as session:
            pending = await session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.state != OutboxState.SENT)
            )
        if not pending:
            return
        process.check_alive()
        assert monotonic() < deadline, f"{pending} messages not sent\n{process.tail()}"
        await asyncio.sleep(0.1)


def test_in_memory_sqlite_has_no_lease() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        lease_for(create_async_engine("sqlite+aiosqlite:///:memory:"), 1.0)


class ScriptedLease:
    """A lease whose answers a test scripts: acquisitions (True, False or an error) and
    how many checks it stays held for."""

    def __init__(self, acquisitions: list[bool | Exception], held_checks: int) -> None:
        self.acquisitions = acquisitions
        self.held_checks = held_checks
        self.checks = 0
        self.released = 0

    async def try_acquire(self) -> bool:
        answer = self.acquisitions.pop(0) if self.acquisitions else False
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def still_held(self) -> bool:
        self.checks += 1
        return self.checks <= self.held_checks

    async def release(self) -> None:
        self.released += 1


async def test_worker_stands_by_runs_and_stops_with_the_lease() -> None:
    """A database error while asking is standing by, not a crash; the worker's tasks run
    only while the lease is held and are stopped (jobs cancelled) when it is lost."""
    lease = ScriptedLease([ConnectionError("db restarting"), False, True], held_checks=3)
    events: list[str] = []
    job_cancelled = asyncio.Event()

    async def job() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            job_cancelled.set()
            raise

    async def start() -> Callable[[], Awaitable[None]]:
        events.append("start")
        task = asyncio.create_task(job())

        async def stop() -> None:
            events.append("stop")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        return stop

    runner = asyncio.create_task(hold_then_run(lease, start, check_seconds=0.01))
    try:
        await asyncio.wait_for(job_cancelled.wait(), 10)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert events == ["start", "stop"]
    assert lease.checks == 4 and lease.released == 1

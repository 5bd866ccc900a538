"""SIGTERM stops the bot within seconds: while idle in a long poll, and right after an
update, when the poller and the outbox sender are between two waits.

The hang this guards against was real: Python 3.11's ``asyncio.wait_for`` returns
normally when its task is cancelled in the same loop iteration as the awaited event is
set, so the cancellation from SIGTERM was lost and the poller went on into the next 30 s
long poll (or the sender into its next round), and ``loyalty-bot run`` never exited.
The loops now wait through ``bot.waiting.wait_event``. The race is a few loop iterations
wide, so the in-process tests cancel at every step of it; the process test shows the
whole command stopping.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from time import monotonic

import pytest
from aiogram.types import Update

from bot.polling import ConcurrentPoller
from bot.testing.telegram_double import BotAPIServer, FakeTelegram, recording_bot
from bot.waiting import acquire_within, wait_event
from tests.support.crash import BotProcess
from tests.support.harness import App
from tests.test_concurrent_polling import _push, _until

STOP_S = 5.0  # "within a few seconds", against a long poll of 30 s
SPINS = range(8)  # loop iterations between the event and the cancel: the race is 2..4 wide


async def _stops(task: asyncio.Task[object], seconds: float = STOP_S) -> bool:
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:  # leave nothing running behind the test
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return bool(done)


@pytest.mark.parametrize("spins", SPINS)
async def test_wait_event_never_loses_a_cancel(spins: int) -> None:
    event = asyncio.Event()
    task = asyncio.create_task(wait_event(event, 30))
    await asyncio.sleep(0.01)
    event.set()
    for _ in range(spins):
        await asyncio.sleep(0)
    finished_first = task.done()  # it returned before the cancel was even asked for
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # Either it was done before the cancel, or the cancel won: a cancel is never lost.
    if finished_first:
        assert task.result() is True and event.is_set()
    else:
        assert task.cancelled()


async def test_wait_event_times_out_and_sees_a_set_event() -> None:
    event = asyncio.Event()
    started = monotonic()
    assert await wait_event(event, 0.05) is False
    assert monotonic() - started >= 0.05
    event.set()
    assert await wait_event(event, 10) is True


@pytest.mark.parametrize("spins", SPINS)
async def test_the_poller_stops_when_cancelled_as_a_handler_finishes(spins: int) -> None:
    """The update in flight comes back with the next poll, so the poller waits for a
    handler to finish; the cancel lands just as one does."""
    fake = FakeTelegram()
    bot = recording_bot(fake)
    gate = asyncio.Event()

    async def handle(update: Update) -> None:
        await gate.wait()

    task = asyncio.create_task(ConcurrentPoller(bot, handle, timeout=30, max_concurrent=8).run())
    try:
        _push(fake, 7001, "hello")
        await _until(lambda: len(fake.calls("getUpdates")) >= 2)  # in flight, sent again
        await asyncio.sleep(0.05)
        gate.set()
        for _ in range(spins):
            await asyncio.sleep(0)
        assert await _stops(task), "the poller went on polling after its cancel"
    finally:
        await bot.session.close()


@pytest.mark.parametrize("spins", SPINS)
async def test_the_outbox_sender_stops_when_cancelled_as_it_is_woken(
    app: App, spins: int
) -> None:
    """A handler wakes the sender after queueing a message; the cancel lands just then."""
    task = asyncio.create_task(app.sender.run())
    await asyncio.sleep(0.2)  # past its first (empty) round, waiting to be woken
    app.sender.wake()
    for _ in range(spins):
        await asyncio.sleep(0)
    assert await _stops(task), "the sender went on after its cancel"


CONFIG = """\
[business]
name = "Stop Garage"
timezone = "Europe/Moscow"
currency = "RUB"
default_language = "en"

[telegram]
api_server = "{api}"
polling_timeout = 30

[database]
url = "{db_url}"

[outbox]
poll_seconds = 30
"""


async def _until_alive_check(process: BotProcess, check: object, seconds: float) -> None:
    deadline = monotonic() + seconds
    while not check():  # type: ignore[operator]
        process.check_alive()
        assert monotonic() < deadline, f"not within {seconds}s\n{process.tail()}"
        await asyncio.sleep(0.02)


async def _sigterm_exit_seconds(process: BotProcess) -> float:
    started = monotonic()
    os.kill(process.pid, signal.SIGTERM)
    while process.process.is_alive() and monotonic() - started < 30:
        await asyncio.sleep(0.02)
    return monotonic() - started


@pytest.mark.parametrize("after_update", [False, True], ids=["idle", "after-update"])
async def test_loyalty_bot_run_stops_on_sigterm(
    tmp_path: Path, db_url: str, after_update: bool
) -> None:
    fake = FakeTelegram()
    async with BotAPIServer(fake) as server:
        config = tmp_path / "config.toml"
        config.write_text(CONFIG.format(api=server.url, db_url=db_url), encoding="utf-8")
        process = BotProcess(config, fake.token, tmp_path / "bot.log")
        await process.start()
        try:
            await _until_alive_check(process, lambda: fake.calls("getUpdates"), 60)
            if after_update:
                for chat in (7001, 7002, 7003):
                    _push(fake, chat, "/help")
                await _until_alive_check(process, lambda: fake.sent(7001), 30)
            else:
                await asyncio.sleep(0.5)  # inside the 30 s long poll
            seconds = await _sigterm_exit_seconds(process)
            assert seconds < STOP_S, f"still running {seconds:.1f}s after SIGTERM\n{process.tail()}"
            assert process.process.exitcode == 0, process.tail()
        finally:
            await process.stop()


@pytest.mark.parametrize("spins", SPINS)
async def test_a_write_turn_never_loses_a_cancel_nor_stays_held(spins: int) -> None:
    """SQLite's writer queue waits for its turn through ``acquire_within``: a cancel that
    lands as the turn is granted propagates, and the turn goes back to the queue."""
    lock = asyncio.Lock()
    await lock.acquire()
    task = asyncio.create_task(acquire_within(lock, 30))
    await asyncio.sleep(0.01)
    lock.release()  # the waiting task's turn
    for _ in range(spins):
        await asyncio.sleep(0)
    finished_first = task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if finished_first:
        assert task.result() is True and lock.locked()
        lock.release()
    else:
        assert task.cancelled(), "the cancel was lost"
        assert not lock.locked(), "a cancelled waiter kept the turn"
    assert await acquire_within(lock, 0.1)  # the queue still works
    assert not await acquire_within(lock, 0.01)  # held: times out, leaves nothing behind
    lock.release()
    assert not lock.locked()

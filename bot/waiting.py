"""Wait for an ``asyncio.Event`` at most so long, without ever losing a cancellation.

``asyncio.wait_for(event.wait(), timeout)`` on Python 3.11 returns normally when the
task is cancelled in the same loop iteration as the event is set (the inner wait is
done, so wait_for hands back its result and drops the CancelledError; fixed in 3.12).
A loop that waits like that between polls then never sees SIGTERM's cancellation and
goes on to the next long poll: the process hangs. ``asyncio.wait`` has no such race.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Until ``event`` is set (True) or ``seconds`` pass (False); a cancel always propagates."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()
    return bool(done)


async def acquire_within(lock: asyncio.Lock, seconds: float) -> bool:
    """Acquire ``lock`` within ``seconds`` (True) or not at all (False); a cancel always
    propagates and never leaves the lock held (the same 3.11 race as above, with
    ``wait_for(lock.acquire())`` losing the cancel of a turn just granted)."""
    acquiring = asyncio.ensure_future(lock.acquire())
    try:
        done, _ = await asyncio.wait({acquiring}, timeout=seconds)
    except BaseException:
        if acquiring.done() and not acquiring.cancelled():
            lock.release()  # granted as the cancel came: give the turn back
        else:
            acquiring.cancel()
        raise
    if not done:
        acquiring.cancel()  # still waiting: asyncio.Lock hands the turn on to the next
        return False
    return True

"""Long polling that handles many chats at once and loses nothing on a crash.

aiogram's own loop confirms a batch (the next ``getUpdates`` offset) before its handlers
have committed when it runs them as tasks, and runs one update at a time when it does
not. This loop does neither:

- updates are handled concurrently, but in order within each chat: an update waits for
  the one before it from the same chat (private chats: the same user), so a slow handler
  holds up only its own chat -- until 99 later updates wait behind it: getUpdates returns
  at most 100 updates from the offset, and the offset cannot pass an update in flight,
  so fetching then waits for the slow one (a persisted inbox would lift that bound);
- the offset sent to Telegram is the lowest update id still in flight (or one past the
  newest when nothing is), so everything Telegram forgets has been handled and committed;
  after a crash the unconfirmed updates come again and the exactly-once records
  (``processed_updates``) give them no second effect;
- Telegram re-sends the unconfirmed updates with each poll: ids already taken are skipped,
  and when a poll brings nothing new the loop waits for a handler to finish instead of
  asking again at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.logs import current_update
from bot.waiting import wait_event

log = logging.getLogger(__name__)

Handle = Callable[[Update], Awaitable[Any]]
NETWORK_BACKOFF_S = (1.0, 2.0, 5.0, 10.0)
# While only in-flight updates come back, new updates of other chats are fetched this often:
# bench.polling measured the ordinary chats' p99 at 305 ms with 0.5 s and 107 ms with 0.1 s,
# for 20 % more getUpdates calls (bench/RESULTS.md).
IDLE_WAIT_S = 0.1


def chat_key(update: Update) -> int | None:
    """Whose queue an update joins: the user's (in private chats, their chat's) id."""
    event = update.event
    user = getattr(event, "from_user", None)
    if user is not None:
        return int(user.id)
    chat = getattr(event, "chat", None)
    return int(chat.id) if chat is not None else None


class ConcurrentPoller:
    """Fetch updates and run ``handle`` for each, concurrently across chats."""

    def __init__(
        self,
        bot: Bot,
        handle: Handle,
        *,
        timeout: int,
        max_concurrent: int,
        allowed_updates: list[str] | None = None,
    ) -> None:
        self.bot = bot
        self.handle = handle
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self._slots = asyncio.Semaphore(max_concurrent)
        self._in_flight: set[int] = set()
        self._tails: dict[int | None, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._taken: set[int] = set()  # handed to a handler, maybe sent again by Telegram
        self._last: int | None = None  # the newest update received
        self._finished = asyncio.Event()

    @property
    def offset(self) -> int | None:
        """What the next poll confirms: every update below it has been handled."""
        if self._in_flight:
            return min(self._in_flight)
        return self._last + 1 if self._last is not None else None

    async def run(self) -> None:
        """Poll until cancelled; on the way out, let the handlers in flight finish."""
        failures = 0
        try:
            while True:
                offset = self.offset
                if offset is not None:  # Telegram forgets what is below it: so can we
                    self._taken = {taken for taken in self._taken if taken >= offset}
                try:
                    updates = await self.bot(
                        GetUpdates(
                            offset=offset,
                            timeout=self.timeout,
                            allowed_updates=self.allowed_updates,
                        )
                    )
                except TelegramConflictError:
                    log.error(
                        "another process is taking this bot's updates (Telegram: terminated by "
                        "other getUpdates request): stopping; run one polling process per bot"
                    )
                    return
                except TelegramRetryAfter as exc:
                    log.warning("getUpdates: flood wait %s s", exc.retry_after)
                    await asyncio.sleep(exc.retry_after)
                    continue
                except (TelegramNetworkError, TelegramServerError) as exc:
                    delay = NETWORK_BACKOFF_S[min(failures, len(NETWORK_BACKOFF_S) - 1)]
                    failures += 1
                    log.warning("getUpdates failed (%s); retrying in %.0f s", exc, delay)
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                fresh = [u for u in updates if u.update_id not in self._taken]
                for update in fresh:
                    self._start(update)
                if not fresh and updates:
                    # Only updates still in flight came back: wait for one to finish.
                    self._finished.clear()
                    await wait_event(self._finished, IDLE_WAIT_S)  # never eats a cancel
        finally:
            await self.drain()

    async def drain(self) -> None:
        """Wait for every handler started so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, update: Update) -> None:
        self._last = update.update_id
        self._taken.add(update.update_id)
        self._in_flight.add(update.update_id)
        key = chat_key(update)
        before = self._tails.get(key)
        task = asyncio.create_task(self._run_one(update, before), name=f"update-{update.update_id}")
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(key, update.update_id, done))

    async def _run_one(self, update: Update, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait({before})  # same chat: strictly after the previous update
        async with self._slots:
            try:
                await self.handle(update)
            except Exception:  # the dispatcher's error handlers already had their say
                log.exception("update %s failed", update.update_id)

    def _done(self, key: int | None, update_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight.discard(update_id)
        if self._tails.get(key) is task:
            del self._tails[key]
        self._finished.set()


async def feed_tagged(dp: Dispatcher, bot: Bot, update: Update, **kwargs: Any) -> Any:
    """``dp.feed_update`` with the update id on every log line, aiogram's own included."""
    token = current_update.set(str(update.update_id))
    try:
        return await dp.feed_update(bot, update, **kwargs)
    finally:
        current_update.reset(token)


async def poll(dp: Dispatcher, bot: Bot, *, timeout: int, max_concurrent: int) -> None:
    """Run the dispatcher on :class:`ConcurrentPoller` with its start-up and shut-down hooks."""
    workflow = {"dispatcher": dp, "bot": bot, **dp.workflow_data}
    await dp.emit_startup(**workflow)
    try:
        poller = ConcurrentPoller(
            bot,
            lambda update: feed_tagged(dp, bot, update),
            timeout=timeout,
            max_concurrent=max_concurrent,
            allowed_updates=dp.resolve_used_update_types(),
        )
        log.info("polling: up to %d updates at once, in order per chat", max_concurrent)
        await poller.run()
    finally:
        await dp.emit_shutdown(**workflow)

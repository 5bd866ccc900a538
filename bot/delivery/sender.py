"""The outbox sender: paced, prioritised, deadline-bound and crash-safe delivery.

- **Pacing** (bot/delivery/pacing.py): ``outbox.rate_per_second`` overall and
  ``outbox.per_chat_per_second`` into one chat; a 429 pauses every send for its
  ``retry_after`` and the message goes back to the queue.
- **Priorities**: each claim takes transactional messages before any bulk one and holds
  about one second of sending, so a redemption prompt queued behind any backlog of
  marketing leaves within about a second.
- **Deadlines, not attempt counts**: a passing failure (network, timeouts, 5xx, anything
  unexpected) is retried after a pause doubling from 1 s up to ``backoff_cap_seconds``,
  until the message's deadline; then it is ``expired``. A 400 is ``failed`` (the message
  itself is wrong); a 403 is ``failed`` and marks the customer unreachable.
- **Crash-safe, several senders**: messages are claimed under a lease
  (bot/services/outbox/delivery_queue.py); a message is marked sent after Telegram accepted it,
  so a crash can duplicate only the messages in flight, at most ``outbox.concurrency``.
  A sender starting on SQLite (one sender, the worker lease) drops stale leases at once;
  on PostgreSQL they run out. The pacing is per sender process: with several senders,
  give each its share of the rate.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup

from bot.delivery.pacing import Pacer
from bot.logs import redact
from bot.metrics import FLOOD_WAITS, OUTBOX_DEPTH, SENDS
from bot.services.context import Business
from bot.services.outbox import delivery_queue as queue
from bot.services.outbox.deferred_text import text_of
from bot.services.outbox.delivery_queue import Claimed
from bot.waiting import wait_event

log = logging.getLogger(__name__)

# Errors that a retry cannot fix: the message itself is wrong.
PERMANENT = (TelegramBadRequest, TelegramNotFound, TelegramEntityTooLarge)
FIRST_BACKOFF_SECONDS = 1.0
PRIORITY_LABELS = {0: "transactional", 1: "bulk"}


def backoff(attempt: int, cap: float) -> float:
    """Seconds before retry number ``attempt`` (1, 2, 4, ... up to ``cap``)."""
    return min(cap, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempt - 1))


class OutboxSender:
    def __init__(self, biz: Business, bot: Bot) -> None:
        self.biz = biz
        self.bot = bot
        self.settings = biz.settings.outbox
        self.batch = max(self.settings.concurrency, math.ceil(self.settings.rate_per_second))
        self.lease = timedelta(seconds=self.settings.claim_lease_seconds)
        # A send starts at the latest with a quarter of its claim's lease left and must end
        # within it: past the lease another sender may claim the row and send it again.
        self.send_timeout = max(1, int(self.settings.claim_lease_seconds / 4))
        self._wake = asyncio.Event()
        self._pacer: Pacer | None = None
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._secrets = biz.settings.secrets()
        self._held = False  # the last claim left messages to paced chats
        self._in_flight: set[asyncio.Task[None]] = set()
        self._in_flight_chats: set[int] = set()

    @property
    def pacer(self) -> Pacer:
        if self._pacer is None:  # made in the running loop
            self._pacer = Pacer(self.settings.rate_per_second, self.settings.per_chat_per_second)
        return self._pacer

    def wake(self) -> None:
        """Called after a handler queued messages, so they go out without waiting a poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send forever; an unexpected failure is logged and retried, never fatal."""
        log.info("outbox sender started", extra={"concurrency": self.settings.concurrency})
        if self.biz.db.is_sqlite:
            released = await queue.release_all(self.biz.db)
            if released:
                log.warning("released %d messages claimed before a restart", released)
        while True:
            try:
                sent = await self.send_due()
                if sent == 0:
                    await self._idle()
            except Exception:
                log.exception("outbox sender failed; retrying")
                await asyncio.sleep(self.settings.poll_seconds)

    async def _idle(self) -> None:
        """Nothing to send now: sweep, report, and wait for a wake-up, the poll interval or
        the first paced chat to be free again."""
        await self.sweep()
        timeout = self.settings.poll_seconds
        if self._held:
            timeout = min(timeout, max(0.02, self.pacer.next_chat_free_in()))
        self._wake.clear()
        await wait_event(self._wake, timeout)  # never eats a cancel

    async def sweep(self) -> None:
        """Expire what is past its deadline; set the backlog gauge, per priority."""
        now = self.biz.clock.now()
        expired = await queue.expire_overdue(self.biz.db, now)
        if expired:
            SENDS.labels(outcome="expired").inc(expired)
        depth = await queue.depth_by_priority(self.biz.db, now)
        for priority, label in PRIORITY_LABELS.items():
            OUTBOX_DEPTH.labels(priority=label).set(depth.get(priority, 0))

    async def send_due(self) -> int:
        """Claim one batch and send it, paced; returns how many sends were started."""
        pacer = self.pacer
        now = self.biz.clock.now()
        # a chat with a send in flight waits for its outcome (a 403 stops the rest; a 429
        # puts it back first), so one chat's messages keep their order
        held = sorted(set(pacer.held_chats(pacer.horizon(self.batch))) | self._in_flight_chats)
        claim = await queue.claim(
            self.biz.db,
            now,
            limit=self.batch,
            lease=self.lease,
            kinds=self.settings.kinds,
            skip_chats=held,
        )
        if claim.expired:
            SENDS.labels(outcome="expired").inc(claim.expired)
        if claim.skipped:
            SENDS.labels(outcome="skipped").inc(claim.skipped)
        # one message per chat per batch; the others wait for a later claim
        batch: list[Claimed] = []
        later: list[int] = []
        chats: set[int] = set()
        for message in claim.messages:
            if message.chat_id in chats:
                later.append(message.id)
            else:
                chats.add(message.chat_id)
                batch.append(message)
        batch = [batch[i] for i in pacer.in_slot_order([m.chat_id for m in batch])]
        # messages wait for a paced chat: the sender looks again when it is free
        self._held = bool(later) or (
            not claim.messages and bool(held) and await queue.any_due(self.biz.db, now, held)
        )
        lease_end = now + self.lease - timedelta(seconds=self.settings.claim_lease_seconds / 4)
        started: set[int] = set()
        try:
            for message in batch:
                await self._slots.acquire()
                try:
                    await pacer.acquire(message.chat_id)
                except BaseException:
                    self._slots.release()
                    raise
                if self.biz.clock.now() >= lease_end:  # too slow: others may claim it soon
                    self._slots.release()
                    break
                started.add(message.id)
                self._in_flight_chats.add(message.chat_id)
                task = asyncio.create_task(self._deliver_in_slot(message))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
        finally:
            # the sends go on while the next batch is claimed: no gap between batches
            later.extend(m.id for m in batch if m.id not in started)
            await queue.release(self.biz.db, later)
        return len(started)

    async def settle(self) -> None:
        """Wait for the sends in flight."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def drain(self) -> int:
        """Send until nothing is due (tests, demo); returns the number of sends started."""
        total = 0
        while True:
            count = await self.send_due()
            total += count
            if count:
                continue
            if self._in_flight:
                await self.settle()  # their outcomes may free (or put back) messages
            elif self._held:
                await asyncio.sleep(max(0.001, self.pacer.next_chat_free_in()))
            else:
                return total

    async def _deliver_in_slot(self, message: Claimed) -> None:
        try:
            await self._deliver(message)
        except Exception:
            log.exception("outbox delivery failed", extra={"outbox_id": message.id})
        finally:
            self._in_flight_chats.discard(message.chat_id)
            self._slots.release()

    async def _deliver(self, message: Claimed) -> None:
        markup = (
            InlineKeyboardMarkup.model_validate(message.reply_markup)
            if message.reply_markup
            else None
        )
        db = self.biz.db
        try:  # a row queued as a template (deferred_text) is rendered now
            text = text_of(self.biz.texts, message) or ""
        except Exception as err:  # a template that no longer fits what was queued
            SENDS.labels(outcome="failed").inc()
            log.exception("render failed", extra={"outbox_id": message.id})
            error = f"render: {type(err).__name__}: {err}"
            await queue.mark_failed(db, message.id, error, unreachable_customer=None,
                                    now=self.now())  # fmt: skip
            return
        rendered = text if message.text is None else None  # kept as sent
        try:
            await self.bot.send_message(
                message.chat_id,
                text,
                reply_markup=markup,
                request_timeout=self.send_timeout,
            )
        except TelegramRetryAfter as err:
            self.pacer.pause(err.retry_after)
            FLOOD_WAITS.inc()
            SENDS.labels(outcome="flood").inc()
            log.warning("flood wait", extra={"outbox_id": message.id, "retry": err.retry_after})
            await queue.release(db, [message.id])  # still pending; sent after the pause
            return
        except TelegramForbiddenError as err:
            SENDS.labels(outcome="forbidden").inc()
            await queue.mark_blocked(
                db,
                message.id,
                self._error_text(err),
                customer_id=message.customer_id,
                now=self.biz.clock.now(),
            )
            return
        except PERMANENT as err:
            SENDS.labels(outcome="failed").inc()
            log.warning("send refused: %s", self._error_text(err), extra={"outbox_id": message.id})
            await queue.mark_failed(
                db, message.id, self._error_text(err), unreachable_customer=None, now=self.now()
            )
            return
        except Exception as err:  # 5xx, network, timeouts, unexpected: retry until the deadline
            await self._retry_or_expire(message, self._error_text(err))
            return
        await queue.mark_sent(db, message.id, self.now(), rendered)
        SENDS.labels(outcome="sent").inc()

    async def _retry_or_expire(self, message: Claimed, error: str) -> None:
        now = self.now()
        retry_at = now + timedelta(
            seconds=backoff(message.attempts + 1, self.settings.backoff_cap_seconds)
        )
        log.warning("send failed: %s", error, extra={"outbox_id": message.id})
        if message.deadline is not None and retry_at >= message.deadline:
            SENDS.labels(outcome="expired").inc()
            await queue.mark_expired(self.biz.db, message.id, error)
        else:
            SENDS.labels(outcome="retry").inc()
            await queue.mark_retry(self.biz.db, message.id, error, retry_at)

    def now(self) -> datetime:
        return self.biz.clock.now()

    def _error_text(self, err: Exception) -> str:
        """What is stored and logged of a failure: the HTTP client's text names the URL,
        which carries the bot token, so the token is cut out first."""
        return redact(str(err), self._secrets)

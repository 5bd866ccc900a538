"""The outbox sender: delivers queued messages, at least once, with bounded concurrency.

A crash between Telegram accepting a message and the row being marked sent is the only
way a chat can get a message twice, so at most ``concurrency`` messages can be duplicated
per crash. 429 pauses every sender until the shared ``retry_after``; 403 gives up on the
message; other errors retry with backoff. (A later issue hardens this for bulk sending.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup

from bot.db.models import OutboxMessage
from bot.logs import redact
from bot.metrics import FLOOD_WAITS, OUTBOX_DEPTH, SENDS
from bot.services.context import Business
from bot.services.outbox import due_count, due_messages, mark_attempt_failed, mark_sent

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (1, 5, 30, 120, 600)
# Errors that a retry cannot fix: the message itself is wrong.
PERMANENT = (TelegramBadRequest,)


class OutboxSender:
    def __init__(self, biz: Business, bot: Bot) -> None:
        self.biz = biz
        self.bot = bot
        self.settings = biz.settings.outbox
        self._wake = asyncio.Event()
        self._paused_until = 0.0
        self._secrets = biz.settings.secrets()

    def wake(self) -> None:
        """Called after a handler queued messages, so they go out without waiting a poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send forever; an unexpected failure is logged and retried, never fatal."""
        log.info("outbox sender started", extra={"concurrency": self.settings.concurrency})
        while True:
            try:
                sent = await self.send_due()
            except Exception:
                log.exception("outbox sender failed; retrying")
                sent = 0
            if sent == 0:
                OUTBOX_DEPTH.set(await due_count(self.biz.db, self.biz.clock.now()))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_seconds)

    async def send_due(self) -> int:
        """One batch of up to ``concurrency`` messages; returns how many were attempted."""
        delay = self._paused_until - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        batch = await due_messages(self.biz.db, self.biz.clock.now(), self.settings.concurrency)
        if batch:
            await asyncio.gather(*(self._deliver(message) for message in batch))
        return len(batch)

    async def drain(self) -> int:
        """Send until nothing is due (tests, demo); returns the number of attempts."""
        total = 0
        while (count := await self.send_due()) > 0:
            total += count
        return total

    async def _deliver(self, message: OutboxMessage) -> None:
        markup = (
            InlineKeyboardMarkup.model_validate(message.reply_markup)
            if message.reply_markup
            else None
        )
        try:
            await self.bot.send_message(message.chat_id, message.text or "", reply_markup=markup)
        except TelegramRetryAfter as err:
            loop_time = asyncio.get_running_loop().time()
            self._paused_until = max(self._paused_until, loop_time + err.retry_after)
            FLOOD_WAITS.inc()
            log.warning("flood wait", extra={"outbox_id": message.id, "retry": err.retry_after})
            return  # still pending; retried after the pause
        except TelegramForbiddenError as err:
            SENDS.labels(outcome="forbidden").inc()
            await mark_attempt_failed(self.biz.db, message.id, self._error_text(err), None)
            return
        except Exception as err:  # 5xx, network, unexpected API answers: retry with backoff
            attempt = message.attempts + 1
            retry = None
            if not isinstance(err, PERMANENT):  # interim: the hardened sender follows
                wait = BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]
                retry = self.biz.clock.now() + timedelta(seconds=wait)
                if message.deadline is not None and retry > message.deadline:
                    retry = None
            error = self._error_text(err)
            log.warning("send failed: %s", error, extra={"outbox_id": message.id})
            SENDS.labels(outcome="retry" if retry else "failed").inc()
            await mark_attempt_failed(self.biz.db, message.id, error, retry)
            return
        await mark_sent(self.biz.db, message.id, self.biz.clock.now())
        SENDS.labels(outcome="sent").inc()

    def _error_text(self, err: Exception) -> str:
        """What is stored and logged of a failure: the HTTP client's text names the URL,
        which carries the bot token, so the token is cut out first."""
        return redact(str(err), self._secrets)

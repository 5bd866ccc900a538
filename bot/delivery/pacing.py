"""Pacing of sends: at most ``rate`` messages a second overall and ``per_chat`` into one
chat, and a pause for everything after a 429.

Two rules, both on the event loop's monotonic clock (pacing is about real seconds, not
the business clock that tests freeze):

- **spacing**: sends follow slots ``(1 + GUARD)/rate`` apart, counted from the start of
  a run of sends (adding the interval up one send at a time would let each send's
  lateness slow the rate down). ``GUARD`` (1 %) absorbs the varying time a request takes
  to reach Telegram, which counts arrivals: a send may arrive up to 10 ms later than the
  one 30 sends after it without the two falling in one second. A sender behind its
  slots by less than ``CATCH_UP`` catches up; further behind (or idle) it starts a new
  run rather than bursting. A run's second slot comes ``RUN_START_SLACK`` later: its
  first request may open a connection and arrive tens of milliseconds late (seen against
  the double: 11 ms more than the rest), which the 1 % would not absorb when the run's
  31st send falls one second after it;
- **the hard limit**: never more than ``rate`` sends in any one second and ``GUARD``
  (``ceil(rate)`` in ``ceil(rate)/rate + GUARD`` seconds), counted on the times sends
  really started, whatever the catching up. A chat's next send is ``1/per_chat`` +
  ``CHAT_GUARD`` seconds after its last.

The sender calls :meth:`acquire` for one message at a time, then sends it.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable

GUARD = 0.01  # a share of the overall interval
# Seconds added to a chat's interval: Telegram counts arrivals, and a request (the first on
# a new connection most of all) may arrive tens of milliseconds after its slot.
CHAT_GUARD = 0.05
# A sender behind its slots by less than this catches up (the one-second limit still
# holds); further behind (or idle) it starts a new run of slots.
CATCH_UP = 0.1  # seconds
RUN_START_SLACK = 0.03  # seconds after a run's first send before its slots begin


class Pacer:
    def __init__(
        self,
        rate: float,
        per_chat: float,
        time: Callable[[], float] | None = None,
    ) -> None:
        self.interval = (1.0 + GUARD) / rate
        self.chat_interval = 1.0 / per_chat + CHAT_GUARD
        self.burst = max(1, math.ceil(rate))
        self.window = self.burst / rate + GUARD
        self._time = time or asyncio.get_running_loop().time
        self._recent: deque[float] = deque(maxlen=self.burst)  # last sends' start times
        self._run_start = -math.inf  # the current run of evenly spaced sends
        self._run_sends = 0
        self._chat_next: dict[int, float] = {}  # chat -> earliest next send (future only)
        self._paused_until = 0.0

    def now(self) -> float:
        return self._time()

    def pause(self, seconds: float) -> None:
        """Telegram said 429 ``retry_after``: nothing goes out before then."""
        self._paused_until = max(self._paused_until, self.now() + seconds)

    def held_chats(self, within: float = 0.0) -> list[int]:
        """Chats that may not be sent to yet, nor within ``within`` seconds from now."""
        now = self.now()
        self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        return [c for c, t in self._chat_next.items() if t > now + within]

    def horizon(self, sends: int) -> float:
        """Seconds that ``sends`` evenly spaced sends take: a batch's chats held for less
        than this can be given a later slot of the same batch."""
        return sends * self.interval

    def in_slot_order(self, chats: list[int]) -> list[int]:
        """Positions of ``chats`` (one message each) in the order their slots come: a chat
        still held takes the first slot at or after it is free, the others keep their order
        (so a chat's next message is not left for a later batch)."""
        now = self.now()
        free_at = {i: self._chat_next.get(c, 0.0) for i, c in enumerate(chats)}
        ready = [i for i in range(len(chats)) if free_at[i] <= now]
        waiting = sorted((i for i in range(len(chats)) if free_at[i] > now), key=free_at.get)
        order: list[int] = []
        slot = max(now, self._next_slot())
        while ready or waiting:
            take_waiting = bool(waiting) and (not ready or free_at[waiting[0]] <= slot)
            order.append(waiting.pop(0) if take_waiting else ready.pop(0))
            slot += self.interval
        return order

    def next_chat_free_in(self) -> float:
        """Seconds until the first held chat is free again (0 when none is held)."""
        held = self.held_chats()
        return max(0.0, min((self._chat_next[c] for c in held), default=0.0) - self.now())

    def _next_slot(self) -> float:
        return self._run_start + self._run_sends * self.interval

    def delay(self, chat_id: int) -> float:
        """Seconds to wait before sending into ``chat_id`` (0 or less: now)."""
        limits = [self._paused_until, self._chat_next.get(chat_id, 0.0), self._next_slot()]
        if len(self._recent) == self.burst:
            limits.append(self._recent[0] + self.window)
        return max(limits) - self.now()

    def record(self, chat_id: int) -> None:
        """A send into ``chat_id`` starts now."""
        now = self.now()
        if now > self._next_slot() + CATCH_UP:  # idle, or far behind: a new run
            self._run_start, self._run_sends = now + RUN_START_SLACK, 0
        self._run_sends += 1
        self._recent.append(now)
        self._chat_next[chat_id] = now + self.chat_interval

    async def acquire(self, chat_id: int) -> None:
        """Wait until a message may go into ``chat_id``, and count it as sent. Called by
        one task at a time: the sender takes turns in order, then sends concurrently."""
        while (wait := self.delay(chat_id)) > 0:
            await asyncio.sleep(wait)
        self.record(chat_id)

"""Telling the owners that their own wording of a message is broken.

``Texts`` falls back to the shipped text and calls this once per broken place; the owners
hear about it through the outbox (so a report survives a restart once queued). Rendering
happens inside handlers and jobs, so the report is written in its own transaction by a
background task, never inside the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib

from bot.background import BackgroundTasks
from bot.services.context import Business
from bot.services.people import owners
from bot.texts import OverrideProblem


class OverrideReporter:
    def __init__(self) -> None:
        self.biz: Business | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks = BackgroundTasks()

    def attach(self, biz: Business) -> None:
        """Report for ``biz``, on the event loop running now (if any): a message rendered
        on another thread (the SQLite writer's, ``Database.run_write``) is reported there."""
        self.biz = biz
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    def __call__(self, problem: OverrideProblem) -> None:
        if self.biz is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loop = self._loop
            if loop is None or loop.is_closed():
                return  # rendered outside the bot (the CLI): the log line says it
            loop.call_soon_threadsafe(self._start, problem)
            return
        self._start(problem)

    def _start(self, problem: OverrideProblem) -> None:
        assert self.biz is not None
        self._tasks.start(self._tell(self.biz, problem), name="override-report")

    @staticmethod
    async def _tell(biz: Business, problem: OverrideProblem) -> None:
        await owners.tell_owners(
            biz, "owner.override_broken", where=problem.where, error=problem.error
        )

    async def wait(self) -> None:
        """Until every report so far is queued (tests, shutdown)."""
        await self._tasks.wait()

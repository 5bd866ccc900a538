"""The business context every service receives as a parameter (no module-level singletons)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.config import Settings
from bot.db.engine import Database
from bot.texts import Texts


@dataclass(frozen=True)
class Business:
    settings: Settings
    db: Database
    clock: Clock
    texts: Texts


# A long task's report of how far it got: (done, total). The scoring job, the customer
# import and export take one; the CLI prints it.
Progress = Callable[[int, int], Awaitable[None]]
